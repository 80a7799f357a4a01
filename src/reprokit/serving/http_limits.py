"""Limits on the request head (request line plus headers), enforced where the bytes arrive.

Measured before: one unauthenticated request with a 50 MB header took 7.7 s to get its 401
and stalled every concurrent request as long (100 MB: 26 s). The HTTP parser under BentoML
(uvicorn's httptools protocol) has no head limit and grows its buffers by concatenation,
so the cost is paid before any ASGI middleware sees the request. A partial head also stayed
open for over 65 s (slowloris): uvicorn's keep-alive timeout only runs between requests.

`BoundedHeadProtocol` counts head bytes as they arrive and refuses past the limit with 431
before handing them to the parser; past the header count, also 431; a head not complete
within the head timeout gets 408. Each refusal closes the connection. Limits come from the
serving settings (`REPROKIT_MAX_HEADER_BYTES`, `REPROKIT_MAX_HEADERS`,
`REPROKIT_HEADER_TIMEOUT_S`).

BentoML builds its uvicorn server itself and offers no protocol option, so `install()`
replaces uvicorn's `auto` protocol class in the worker before the server loads it, through
reprokit._compat.uvicorn (pinned by tests/compat/test_uvicorn.py).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from reprokit._compat.uvicorn import replace_auto_http_protocol

HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True)
class HeadLimits:
    max_head_bytes: int = 64 * 1024
    max_headers: int = 100
    head_timeout_seconds: float = 10.0


def head_bytes_in(chunk: bytes, tail: bytes) -> tuple[int, bool]:
    """How many bytes of `chunk` belong to the head, and whether the head ends in it.

    `tail` is the end of the previous chunk (the head's end may straddle two chunks).
    """
    end = (tail + chunk).find(HEAD_END)
    if end < 0:
        return len(chunk), False
    return max(0, end + len(HEAD_END) - len(tail)), True


def refusal(status: int, reason: bytes, message: str) -> bytes:
    """A complete HTTP/1.1 response that closes the connection."""
    body = json.dumps({"error": message}).encode("utf-8")
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, reason),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class _StopParsingError(Exception):
    """Raised from a parser callback after a refusal, to stop httptools mid-head."""


def bounded_head_protocol(base: type[Any], limits_of: Any) -> type[Any]:
    """`base` (uvicorn's HttpToolsProtocol) with head limits; `limits_of()` gives them."""

    class BoundedHeadProtocol(base):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:
            self._limits: HeadLimits = limits_of()
            self._head_timer: asyncio.TimerHandle | None = None
            self._refused = False
            self._start_head()
            super().connection_made(transport)

        def _start_head(self) -> None:
            self._in_head, self._head_size, self._tail, self._header_count = True, 0, b"", 0
            self._cancel_head_timer()
            self._head_timer = asyncio.get_running_loop().call_later(
                self._limits.head_timeout_seconds, self._head_timed_out
            )

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _refuse(self, status: int, reason: bytes, message: str) -> None:
            self._cancel_head_timer()
            self._in_head, self._refused = False, True
            if not self.transport.is_closing():
                self.transport.write(refusal(status, reason, message))
                self.transport.close()

        def _head_timed_out(self) -> None:
            if self._in_head and (self._head_size > 0 or self.cycle is None):
                seconds = self._limits.head_timeout_seconds
                self._refuse(408, b"Request Timeout", f"request head not received in {seconds:g} s")

        def send_400_response(self, msg: str) -> None:
            if not self._refused:  # after our refusal the parser's error is expected
                super().send_400_response(msg)

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._in_head:
                counted, ended = head_bytes_in(data, self._tail)
                self._head_size += counted
                if self._head_size > self._limits.max_head_bytes:
                    limit = self._limits.max_head_bytes
                    self._refuse(
                        431,
                        b"Request Header Fields Too Large",
                        f"request line and headers over {limit} bytes",
                    )
                    return
                self._tail = b"" if ended else (self._tail + data)[-(len(HEAD_END) - 1) :]
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if not self._in_head:  # a keep-alive connection's next request
                self._start_head()

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_count += 1
            if self._header_count > self._limits.max_headers:
                limit = self._limits.max_headers
                self._refuse(431, b"Request Header Fields Too Large", f"more than {limit} headers")
                raise _StopParsingError
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._cancel_head_timer()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

    return BoundedHeadProtocol


def install(limits_of: Any) -> None:
    """Make the HTTP protocol of BentoML's uvicorn workers the bounded one (idempotent)."""
    replace_auto_http_protocol(lambda base: bounded_head_protocol(base, limits_of))
