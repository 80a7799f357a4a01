"""Strict JSON bodies for the API routes: a duplicate key or an unknown top-level field is a
client error, not something to resolve silently.

JSON parsers keep the last of two equal keys (`{"age": 30, "age": 99}` scored as 99) and
BentoML ignores top-level fields its API does not take (`{"records": [...], "explain": true}`
answered as if `explain` were honoured). Either way the caller's intent and the prediction
disagree without a word. This middleware parses the body once more, before BentoML does,
with a duplicate-key hook: 400 for a duplicate key or a body that is not a JSON object,
422 for an unknown top-level field, each naming the key and where it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from reprokit.serving.asgi import replay_body, send_json
from reprokit.serving.request import clip

# Top-level fields per API route (the parameters of its @bentoml.api function).
API_FIELDS: Mapping[str, frozenset[str]] = {
    "/predict": frozenset({"records", "columns", "entities"})
}
# POST only: the API routes take no other method (Starlette answers 405 to the others
# without reading their body).
_BODY_METHODS = frozenset({"POST"})


class BodyError(Exception):
    """The body breaks the strict JSON rules; `status` and `body` are the response."""

    def __init__(self, status: int, rule: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, object] = {
            "error": message,
            "violations": [{"field": field, "rule": rule, "message": message}],
        }


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKeyError(key)
        seen[key] = value
    return seen


def check_body(body: bytes, allowed_fields: frozenset[str]) -> None:
    """Raises BodyError for a duplicate key, a non-object body or an unknown top-level field.

    A body that is not JSON at all is left to BentoML, whose 400 says where it breaks.
    """
    try:
        parsed = json.loads(body, object_pairs_hook=_no_duplicates)
    except _DuplicateKeyError as duplicate:
        key = clip(duplicate.key)
        raise BodyError(
            400, "duplicate_key", f"duplicate key {key!r}: each key may appear once", key
        ) from None
    except (ValueError, RecursionError):
        return
    if not isinstance(parsed, dict):
        raise BodyError(400, "not_an_object", "the body must be a JSON object")
    unknown = sorted(set(parsed) - allowed_fields)
    if unknown:
        names = ", ".join(repr(clip(name)) for name in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise BodyError(
            422,
            "unknown_field",
            f"unknown top-level field(s) {names}{more}; "
            f"this endpoint takes: {sorted(allowed_fields)}",
            clip(unknown[0]),
        )


class StrictJsonMiddleware:
    """Checks API bodies with `check_body` (inside the body limit, which bounds the cost),
    then replays them to BentoML."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        allowed = API_FIELDS.get(scope.get("path", ""))
        if scope["type"] != "http" or allowed is None or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        try:
            check_body(body, allowed)
        except BodyError as error:
            await send_json(send, error.status, error.body)
            return
        await self.app(scope, replay_body(body, receive), send)


async def _read_body(receive: Receive) -> bytes:
    """The whole body (BodyLimitMiddleware, outside this one, has bounded its size)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(bytes(message.get("body", b"")))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return b"".join(chunks)
