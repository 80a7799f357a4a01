"""Production concerns BentoML open source leaves to us, as plain ASGI middleware.

Their settings (`REPROKIT_AUTH`, `REPROKIT_API_KEYS[_FILE]`, `REPROKIT_RATE_LIMIT_*`,
`REPROKIT_AUTH_FAILURES_*`, `REPROKIT_MAX_BODY_BYTES`, `REPROKIT_REQUEST_TIMEOUT_S`,
`REPROKIT_BODY_TIMEOUT_S`, `REPROKIT_ACCESS_LOG`) are `reprokit.serving.config.ServingSettings`,
read when the server builds its middleware stack (never at import) and validated before any
worker starts (the service's deployment hook). What they do:

- Auth: `Authorization: Bearer <key>` against the keys' SHA-256 digests, fail-closed (no key
  configured: every request gets 401 and a warning is logged at start-up; `REPROKIT_AUTH=off`
  is for local development only). Failed attempts are throttled per client address.
- Rate limit: a token bucket per API key (per client address when auth is off); 429 with
  `Retry-After` (seconds); 0 RPS disables it. With several workers, both limits' buckets are
  in one store the workers share (reprokit.serving.buckets), so they hold for the server,
  not per worker.
- Body: over the size limit 413; not received within the body timeout 408; POST bodies must
  be `application/json` (415 otherwise).
- Timeout: no response started within the request timeout: 504, and the work stops at
  its next step (reprokit.serving.deadline).
- Head: the request line and headers are bounded in size, count and time where the bytes
  arrive (431 / 408; reprokit.serving.http_limits, installed by the service).
- Access log: one structlog event per request (`AccessLog`): request id, method, path,
  status, outcome, latency, model tag/version/role, key id (a digest prefix), the worker's
  pid. Never the
  payload or the key. Shadow scorings add their own event (`shadow`).

Every request but health and metrics is also counted in `reprokit_requests_total` and
`reprokit_request_duration_seconds` (reprokit.serving.metrics) by model, role, outcome.

Health (`/livez`, `/readyz`, `/healthz`) and `/metrics` stay open: no auth, no limit.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping

from pydantic import ValidationError
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reprokit.logs import get_logger
from reprokit.serving.asgi import replay_body as _replay
from reprokit.serving.asgi import send_json as _send_json
from reprokit.serving.buckets import buckets_for
from reprokit.serving.config import ServingSettings, digest, serving_settings
from reprokit.serving.deadline import DEADLINE_SCOPE, Deadline
from reprokit.serving.json_body import StrictJsonMiddleware

# The buckets' names in the store the workers share (reprokit.serving.buckets).
RATE_LIMIT, AUTH_FAILURES = "rate_limit", "auth_failures"
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})
KEY_ID_SCOPE = "reprokit.key_id"
REQUEST_ID_SCOPE = "reprokit.request_id"
MODEL_TAG_HEADER = "x-reprokit-model-tag"
MODEL_VERSION_HEADER = "x-reprokit-model-version"
MODEL_ROLE_HEADER = "x-reprokit-model-role"
# What `reprokit lineage <x-reprokit-model-tag>` checks the stored model against: the served
# model's fingerprint and MLflow run (the store could have changed since the server loaded it).
MODEL_FINGERPRINT_HEADER = "x-reprokit-model-fingerprint"
MODEL_RUN_HEADER = "x-reprokit-model-run-id"
_MODEL_HEADERS = (MODEL_TAG_HEADER, MODEL_VERSION_HEADER, MODEL_ROLE_HEADER)
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# POST only: the API routes take no other method (Starlette answers 405 to the others
# without reading their body).
_BODY_METHODS = frozenset({"POST"})
ACCESS_LOGGER = "reprokit.serving.access"
# `serving.work_stopped`'s stage when the 504 came before the work's first step (the body
# was still being read or decoded, or the request waited for a thread).
WORK_NOT_STARTED = "start"

log = get_logger(__name__)


def _is_open(scope: Scope) -> bool:
    return scope["type"] != "http" or scope["path"] in OPEN_PATHS


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


# --- access log -------------------------------------------------------------------------------


class AccessLog:
    """The access log: one structlog event per request (`access`) or shadow scoring
    (`shadow`) on the `reprokit.serving.access` logger, in the project's log format
    (reprokit.logs: JSON with `REPROKIT_LOG_FORMAT=json`); nothing when `REPROKIT_ACCESS_LOG`
    is off. Callers pass ids, statuses and timings only: never a payload value or a key."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._log = get_logger(ACCESS_LOGGER)

    def event(self, name: str, **fields: object) -> None:
        if self.enabled:
            self._log.info(name, **fields)


# BentoML logs each body its own input model refuses (the 400s) at ERROR, with pydantic's
# traceback, whose text quotes the body (`input_value=b'{"records": [...]}'`): any caller
# could write its payload into the error log. `log_exception` in this module logs them.
BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"


class PayloadFreeValidationErrors(logging.Filter):
    """Rewrites a record carrying a pydantic ValidationError into one line without the
    payload: the error count and kinds (pydantic's types, e.g. `json_invalid`), at INFO,
    since it is the caller's mistake, already answered 400 and in the access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            kinds = sorted({str(item["type"]) for item in error.errors(include_input=False)})
            record.args = (record.getMessage(), error.error_count(), ", ".join(kinds))
            record.msg = "%s: request body refused (%d validation errors: %s)"
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


def keep_payloads_out_of_bentoml_logs() -> None:
    """Install `PayloadFreeValidationErrors` on BentoML's request logger, once per process."""
    logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(known, PayloadFreeValidationErrors) for known in logger.filters):
        logger.addFilter(PayloadFreeValidationErrors())


_OUTCOMES = {
    400: "bad_request",
    401: "unauthorized",
    408: "body_timeout",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    504: "timeout",
}


def outcome(status: int) -> str:
    if status < 400:
        return "ok"
    return _OUTCOMES.get(status, "client_error" if status < 500 else "server_error")


class AccessLogMiddleware:
    """Outermost of ours: gives every request an id and logs one JSON line for it."""

    def __init__(self, app: ASGIApp, settings: ServingSettings | None = None) -> None:
        self.app = app
        self.settings = settings or serving_settings()
        self.access_log = AccessLog(self.settings.access_log)
        self.pid = os.getpid()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope[REQUEST_ID_SCOPE] = request_id  # the API's shadow log line names it too
        seen: dict[str, str | int] = {"status": 500}
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = int(message["status"])
                for name, value in message.get("headers", []):
                    lowered = bytes(name).lower().decode("latin-1")
                    if lowered in _MODEL_HEADERS:
                        seen[lowered] = bytes(value).decode("latin-1")
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (REQUEST_ID_HEADER.encode(), request_id.encode("latin-1")),
                    ],
                }
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self._log(scope, request_id, seen, seconds)
            if not _is_open(scope):
                _count(seen, seconds)

    def _log(
        self, scope: Scope, request_id: str, seen: Mapping[str, str | int], seconds: float
    ) -> None:
        status = int(seen["status"])
        self.access_log.event(
            "access",
            request_id=request_id,
            method=scope.get("method"),
            path=scope.get("path"),
            status=status,
            outcome=outcome(status),
            latency_ms=round(seconds * 1000, 3),
            model_tag=seen.get(MODEL_TAG_HEADER),
            model_version=seen.get(MODEL_VERSION_HEADER),
            model_role=seen.get(MODEL_ROLE_HEADER),
            key_id=scope.get(KEY_ID_SCOPE),
            pid=self.pid,  # which worker answered, with several
        )


def _count(seen: Mapping[str, str | int], seconds: float) -> None:
    from reprokit.serving.metrics import NO_MODEL, serving_metrics

    try:
        serving_metrics().record_request(
            str(seen.get(MODEL_TAG_HEADER, NO_MODEL)),
            str(seen.get(MODEL_ROLE_HEADER, NO_MODEL)),
            outcome(int(seen["status"])),
            seconds,
        )
    except Exception:  # metrics must never fail a request
        logging.getLogger(__name__).exception("reprokit serving: request metrics failed")


# --- auth -------------------------------------------------------------------------------------


class ApiKeyMiddleware:
    """`Authorization: Bearer <key>` against SHA-256 digests, compared in constant time.

    Failed attempts are throttled per client address: each refused key takes a token from
    the address's bucket (`REPROKIT_AUTH_FAILURES_BURST`, refilled at
    `REPROKIT_AUTH_FAILURES_RPS`); with none left the address gets 429 whatever its key
    (the answer says nothing about the key), so guessing keys is bounded to that rate.
    Only failing addresses get a bucket.
    """

    def __init__(
        self,
        app: ASGIApp,
        settings: ServingSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.settings = settings or serving_settings()
        rate = self.settings.auth_failures_rps
        burst = max(1.0, self.settings.auth_failures_burst)
        self.failures = buckets_for(AUTH_FAILURES, rate, burst, clock) if rate > 0 else None
        if not self.settings.auth_required:
            logging.getLogger(__name__).warning(
                "reprokit serving: REPROKIT_AUTH=off: requests are NOT authenticated"
            )
        elif not self.settings.key_digests:
            logging.getLogger(__name__).warning(
                "reprokit serving: no API key configured: every request is refused (401). "
                "Set REPROKIT_API_KEYS or REPROKIT_API_KEYS_FILE, or REPROKIT_AUTH=off for "
                "local development"
            )

    def key_id(self, authorization: str | None) -> str | None:
        """The matching key's id (digest prefix), or None."""
        if authorization is None:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        candidate = digest(token.strip())
        match: bytes | None = None
        # Compare against every digest, without stopping early, so timing says nothing.
        for known in self.settings.key_digests:
            if hmac.compare_digest(candidate, known):
                match = known
        return None if match is None else match.hex()[:12]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_open(scope) or not self.settings.auth_required:
            await self.app(scope, receive, send)
            return
        key_id = self.key_id(_header(scope, b"authorization"))
        wait = self._throttled(_client_address(scope), failed=key_id is None)
        if wait > 0:
            await _retry_later(send, wait, "too many failed API key attempts from this address")
            return
        if key_id is None:
            await _send_json(
                send,
                401,
                {"error": "missing or invalid API key (Authorization: Bearer <key>)"},
                {"www-authenticate": "Bearer"},
            )
            return
        scope[KEY_ID_SCOPE] = key_id
        await self.app(scope, receive, send)

    def _throttled(self, address: str, *, failed: bool) -> float:
        """0, or the seconds until `address` may try again. A failed attempt takes a token
        in one step (a 429 when none is left hides whether the key was right), so with the
        workers sharing the buckets every 401 an address gets has taken its own token."""
        if self.failures is None:
            return 0.0
        return self.failures.take(address) if failed else self.failures.wait(address)


# --- rate limit -------------------------------------------------------------------------------


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        settings: ServingSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.settings = settings or serving_settings()
        rate, burst = self.settings.rate_limit_rps, max(1.0, self.settings.rate_limit_burst)
        self.buckets = buckets_for(RATE_LIMIT, rate, burst, clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_open(scope) or self.settings.rate_limit_rps <= 0:
            await self.app(scope, receive, send)
            return
        client = scope.get(KEY_ID_SCOPE) or _client_address(scope)
        wait = self.buckets.take(str(client))
        if wait > 0:
            await _retry_later(send, wait, "rate limit exceeded")
            return
        await self.app(scope, receive, send)


def _client_address(scope: Scope) -> str:
    return "addr:" + str((scope.get("client") or ("?",))[0])


async def _retry_later(send: Send, wait: float, reason: str) -> None:
    retry_after = max(1, math.ceil(wait))
    await _send_json(
        send,
        429,
        {"error": f"{reason}; retry in {retry_after} s"},
        {"retry-after": str(retry_after)},
    )


# --- body size and content type ----------------------------------------------------------------


class _BodyTooLargeError(Exception):
    pass


class BodyLimitMiddleware:
    """Reads a request body up to the limit (413 beyond) and within the body timeout (408
    beyond), then replays it to the app.

    Checking `Content-Length` alone would let a chunked body through, so the bytes are
    counted as they arrive. POST bodies must be JSON (415 otherwise): BentoML would
    otherwise guess a decoder from the content type.
    """

    def __init__(self, app: ASGIApp, settings: ServingSettings | None = None) -> None:
        self.app = app
        self.settings = settings or serving_settings()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_open(scope) or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        media_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if media_type != "application/json":
            await _send_json(send, 415, {"error": "Content-Type must be application/json"})
            return
        limit = self.settings.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_json(send, 413, {"error": f"request body over {limit} bytes"})
            return
        seconds = self.settings.body_timeout_s
        try:
            async with asyncio.timeout(seconds if seconds > 0 else None):
                body = await self._read(receive, limit)
        except _BodyTooLargeError:
            await _send_json(send, 413, {"error": f"request body over {limit} bytes"})
            return
        except TimeoutError:
            await _send_json(
                send,
                408,
                {"error": f"request body not received within {seconds:g} s"},
                {"connection": "close"},
            )
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    async def _read(receive: Receive, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > limit:
                raise _BodyTooLargeError
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


# --- timeout ----------------------------------------------------------------------------------


class TimeoutMiddleware:
    """504 when the response has not started within the timeout, and the work stopped.

    The request's `Deadline` goes into the scope (reprokit.serving.deadline): the API's
    worker thread checks it at each step, so at the 504 the work stops where it is, and a
    request still waiting for a thread never starts. A response already under way is left
    alone.
    """

    def __init__(self, app: ASGIApp, settings: ServingSettings | None = None) -> None:
        self.app = app
        self.settings = settings or serving_settings()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        seconds = self.settings.request_timeout_s
        if _is_open(scope) or seconds <= 0:
            await self.app(scope, receive, send)
            return
        deadline = Deadline(seconds)
        scope[DEADLINE_SCOPE] = deadline
        started = asyncio.Event()

        async def tracked_send(message: Message) -> None:
            started.set()
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, tracked_send))
        waiter = asyncio.ensure_future(started.wait())
        done, _ = await asyncio.wait(
            {task, waiter}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if done:
            await task
            return
        if deadline.cancel():  # else the worker thread stops at its next step and logs it
            log.info("serving.work_stopped", stage=WORK_NOT_STARTED, timeout_s=seconds)
        task.cancel()
        # Retrieve the cancelled task's result so asyncio does not warn about it.
        task.add_done_callback(lambda finished: finished.cancelled() or finished.exception())
        await _send_json(send, 504, {"error": f"no response within {seconds:g} s"})


# Outermost first: every outcome is logged; unauthenticated clients are refused before
# they spend a token or upload a body; the timeout covers only the work itself.
MIDDLEWARE_ORDER: tuple[type, ...] = (
    AccessLogMiddleware,
    ApiKeyMiddleware,
    RateLimitMiddleware,
    BodyLimitMiddleware,
    StrictJsonMiddleware,
    TimeoutMiddleware,
)


# --- metric label cardinality ----------------------------------------------------------------

UNMATCHED_PATH = "/{unmatched}"
_REQUESTED_PATH_SCOPE = "reprokit.requested_path"


class _RequestedPath:
    """Gives the apps inside BentoML's metrics middleware the path the client asked for."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _REQUESTED_PATH_SCOPE in scope:
            scope = {**scope, "path": scope[_REQUESTED_PATH_SCOPE]}
        await self.app(scope, receive, send)


class BoundedPathLabels:
    """BentoML's request metrics, with every path that is not one of the app's routes seen
    as `UNMATCHED_PATH`.

    BentoML labels `bentoml_service_*` by the raw path, 401s and 404s included, so random
    paths grew `/metrics` without bound (3,000 of them: 51 KB -> 12.6 MB, scrapes 200x
    slower). Only the label changes: routing, auth and the access log see the real path.
    `metrics_middleware` is BentoML's middleware class; `options` are its own.
    """

    def __init__(self, app: ASGIApp, /, metrics_middleware: type, **options: object) -> None:
        self.metrics: ASGIApp = metrics_middleware(_RequestedPath(app), **options)
        self._routes: frozenset[str] | None = None

    def _is_route(self, scope: Scope) -> bool:
        if self._routes is None:
            # Starlette puts the app in the scope; only fixed route paths keep their label
            # (a path with parameters or under a mount would again be unbounded).
            routes = getattr(scope.get("app"), "routes", [])
            self._routes = frozenset(route.path for route in routes if isinstance(route, Route))
        return scope["path"] in self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._is_route(scope):
            scope = {**scope, "path": UNMATCHED_PATH, _REQUESTED_PATH_SCOPE: scope["path"]}
        await self.metrics(scope, receive, send)
