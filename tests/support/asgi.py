"""An ASGI app or middleware called in-process through httpx (no server, no port)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers 200 with the size of the body it received."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def call(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to `app` through httpx's ASGI transport, answered in this process."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())
