"""Request-head limits in a real uvicorn server on loopback (the protocol BentoML's workers
use): oversize heads and too many headers are 431, a stalled head is 408, nothing else
changes. Also pins the uvicorn internals `install()` relies on."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from reprokit.serving.http_limits import HeadLimits, bounded_head_protocol, head_bytes_in

LIMITS = HeadLimits(max_head_bytes=8 * 1024, max_headers=20, head_timeout_seconds=0.5)


async def size_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    protocol = bounded_head_protocol(HttpToolsProtocol, lambda: LIMITS)
    config = uvicorn.Config(size_app, host="127.0.0.1", port=0, http=protocol, log_level="error")
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(5)


def exchange(port: int, *parts: bytes, pause: float = 0.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        for part in parts:
            try:
                conn.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break  # refused mid-upload: read what it answered
            time.sleep(pause)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def request(headers: bytes = b"", body: bytes = b"") -> bytes:
    return (
        b"POST /x HTTP/1.1\r\nhost: t\r\nconnection: close\r\n"
        + headers
        + b"content-length: %d\r\n\r\n" % len(body)
        + body
    )


def test_head_bytes_are_counted_up_to_the_blank_line_even_across_chunks() -> None:
    assert head_bytes_in(b"GET / HTTP/1.1\r\n", b"") == (16, False)
    assert head_bytes_in(b"a: b\r\n\r\nBODY", b"") == (8, True)
    # "\r\n\r\n" split as "\r\n\r" | "\nBODY": one byte of this chunk is head.
    assert head_bytes_in(b"\nBODY", b"\r\n\r") == (1, True)


def test_a_normal_request_with_a_large_body_in_one_chunk_passes(port: int) -> None:
    answer = exchange(port, request(b"x-a: 1\r\n", b"z" * 300_000))
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"300000")


def test_an_oversize_head_is_431_before_it_is_all_sent(port: int) -> None:
    huge = b"x-big: " + b"a" * 5_000_000 + b"\r\n"
    started = time.monotonic()
    answer = exchange(port, request()[:30], huge)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"over 8192 bytes" in answer
    assert time.monotonic() - started < 2


def test_too_many_headers_is_431(port: int) -> None:
    many = b"".join(b"x-h%d: v\r\n" % i for i in range(30))
    answer = exchange(port, request(many))
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"more than 20 headers" in answer


def test_a_stalled_head_is_408_and_closed(port: int) -> None:
    started = time.monotonic()
    answer = exchange(port, b"POST /x HTTP/1.1\r\nhost: t\r\n", b"x-slow: 1\r\n", pause=1.0)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 3


def test_keep_alive_requests_each_get_their_own_head_budget(port: int) -> None:
    one = b"GET /a HTTP/1.1\r\nhost: t\r\nx-pad: " + b"p" * 6000 + b"\r\n\r\n"
    last = b"GET /b HTTP/1.1\r\nhost: t\r\nconnection: close\r\nx-pad: " + b"p" * 6000 + b"\r\n\r\n"
    answer = exchange(port, one, last, pause=0.1)
    assert answer.count(b"HTTP/1.1 200") == 2
