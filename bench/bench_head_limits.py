"""A huge request header against a real uvicorn server (the protocol BentoML's workers run):
uvicorn's own httptools protocol (the baseline) vs reprokit's bounded one
(reprokit.serving.http_limits), measured in the same run.

Prints the time until the attacker gets an answer and the latency of the other callers
meanwhile, and their ratios (baseline / bounded).

    python bench/bench_head_limits.py [--megabytes 50]
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from reprokit.serving.http_limits import HeadLimits, bounded_head_protocol


async def ok_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


def serve(protocol: type[Any]) -> tuple[uvicorn.Server, int]:
    config = uvicorn.Config(ok_app, host="127.0.0.1", port=0, http=protocol, log_level="critical")
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server, int(sock.getsockname()[1])


def attack(port: int, megabytes: int) -> float:
    """Seconds until a request with a `megabytes` header gets its first answer byte."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=300) as conn:
        try:
            conn.sendall(b"POST / HTTP/1.1\r\nhost: t\r\nx-big: ")
            for _ in range(megabytes):
                conn.sendall(b"a" * 1_000_000)
            conn.sendall(b"\r\ncontent-length: 0\r\n\r\n")
        except OSError:
            pass  # refused mid-upload: read the answer
        conn.recv(100)
    return time.monotonic() - started


def others(port: int, stop: threading.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=300) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
            conn.recv(100)
        latencies.append(time.monotonic() - started)
        time.sleep(0.01)


def measure(protocol: type[Any], megabytes: int) -> tuple[float, float]:
    server, port = serve(protocol)
    stop, latencies = threading.Event(), [0.0]
    caller = threading.Thread(target=others, args=(port, stop, latencies))
    caller.start()
    answered = attack(port, megabytes)
    stop.set()
    caller.join()
    server.should_exit = True
    return answered, max(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=50)
    megabytes = parser.parse_args().megabytes
    bounded = bounded_head_protocol(HttpToolsProtocol, HeadLimits)
    base_answer, base_others = measure(HttpToolsProtocol, megabytes)
    ours_answer, ours_others = measure(bounded, megabytes)
    print(f"{megabytes} MB header | answered after | other callers' worst latency")
    print(f"uvicorn httptools (baseline) | {base_answer:.3f} s | {base_others * 1000:.0f} ms")
    print(f"reprokit bounded (431) | {ours_answer:.3f} s | {ours_others * 1000:.0f} ms")
    print(
        f"ratio baseline/bounded | {base_answer / max(ours_answer, 1e-6):.0f}x | "
        f"{base_others / max(ours_others, 1e-6):.0f}x"
    )


if __name__ == "__main__":
    main()
