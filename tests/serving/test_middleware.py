"""The serving middleware in-process: auth, rate limit, body limit, timeout, access log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.types import Receive, Scope, Send
from tests.support.asgi import call, echo_app
from tests.support.settings_env import from_env

from reprokit.logs import configure_app_logging
from reprokit.serving.buckets import STATE_DIR_VARIABLE, TokenBuckets
from reprokit.serving.config import ServingSettings, SettingsError
from reprokit.serving.deadline import (
    Deadline,
    DeadlineExceededError,
    deadline_in,
    predict_in_chunks,
)
from reprokit.serving.middleware import (
    BENTOML_REQUEST_LOGGER,
    UNMATCHED_PATH,
    AccessLogMiddleware,
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    BoundedPathLabels,
    PayloadFreeValidationErrors,
    RateLimitMiddleware,
    TimeoutMiddleware,
    keep_payloads_out_of_bentoml_logs,
)


def settings(**env: str) -> ServingSettings:
    return from_env(REPROKIT_API_KEYS="good-key", **env)


def slow_app(seconds: float) -> Callable[[Scope, Receive, Send], Any]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(seconds)
        await echo_app(scope, receive, send)

    return app


def test_settings_hash_keys_from_env_and_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# comment\nfile-key\n\n")
    loaded = from_env(REPROKIT_API_KEYS="a, b", REPROKIT_API_KEYS_FILE=str(keys))
    assert len(loaded.key_digests) == 3
    assert all(len(d) == 32 for d in loaded.key_digests)
    assert b"file-key" not in b"".join(loaded.key_digests)
    assert loaded.auth_required


def test_settings_errors_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="REPROKIT_RATE_LIMIT_RPS"):
        from_env(REPROKIT_RATE_LIMIT_RPS="fast")
    with pytest.raises(SettingsError, match="REPROKIT_API_KEYS_FILE"):
        from_env(REPROKIT_API_KEYS_FILE="/no/such/file")
    with pytest.raises(SettingsError, match="REPROKIT_AUTH"):
        from_env(REPROKIT_AUTH="maybe")


def test_every_bad_setting_is_named_at_once_with_what_is_expected() -> None:
    bad = {
        "REPROKIT_AUTH": "maybe",
        "REPROKIT_RATE_LIMIT_RPS": "abc",
        "REPROKIT_RATE_LIMIT_BURST": "inf",
        "REPROKIT_MAX_BODY_BYTES": "1.5",
        "REPROKIT_REQUEST_TIMEOUT_S": "-1",
        "REPROKIT_ACCESS_LOG": "sometimes",  # was silently "on"
        # The service's own, once read by other code (or, for the registry, not checked).
        "REPROKIT_REGISTRY": "maybe",
        "REPROKIT_MAX_RECORDS": "lots",
        "REPROKIT_PREDICT_THREADS": "0",
    }
    with pytest.raises(SettingsError) as caught:
        from_env(**bad)
    lines = str(caught.value).splitlines()[1:]
    assert [line.split("=", 1)[0].lstrip(" -") for line in lines] == list(bad)
    assert "REPROKIT_AUTH='maybe': Input should be 'required' or 'off'" in lines[0]
    assert "finite" in lines[2] and "greater than or equal to 0" in lines[4]


def test_settings_accept_blanks_spaces_and_any_case() -> None:
    loaded = from_env(
        REPROKIT_AUTH="OFF",
        REPROKIT_RATE_LIMIT_RPS=" 2.5 ",
        REPROKIT_MAX_BODY_BYTES="",
        REPROKIT_ACCESS_LOG="no",
    )
    assert not loaded.auth_required and loaded.rate_limit_rps == 2.5
    assert loaded.max_body_bytes == 10 * 1024 * 1024 and not loaded.access_log


def test_auth_is_fail_closed_without_keys() -> None:
    """No key configured refuses every request; only an explicit REPROKIT_AUTH=off opens."""
    assert from_env().auth_required
    closed = ApiKeyMiddleware(echo_app, from_env())
    assert call(closed, "POST", "/predict").status_code == 401
    assert (
        call(closed, "POST", "/predict", headers={"Authorization": "Bearer x"}).status_code == 401
    )
    opened = ApiKeyMiddleware(echo_app, from_env(REPROKIT_AUTH="off"))
    assert not opened.settings.auth_required
    assert call(opened, "POST", "/predict").status_code == 200


def test_auth() -> None:
    app = ApiKeyMiddleware(echo_app, settings())
    assert call(app, "POST", "/predict").status_code == 401
    assert call(app, "POST", "/predict", headers={"Authorization": "Bearer bad"}).status_code == 401
    assert (
        call(app, "POST", "/predict", headers={"Authorization": "Basic good-key"}).status_code
        == 401
    )
    ok = call(app, "POST", "/predict", headers={"Authorization": "Bearer good-key"})
    assert ok.status_code == 200
    for path in ("/livez", "/readyz", "/metrics"):
        assert call(app, "GET", path).status_code == 200


def test_token_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2.0, burst=3.0, clock=lambda: now[0])
    assert [buckets.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k") == pytest.approx(0.5)
    assert buckets.take("other") == 0.0  # per client
    now[0] = 0.5
    assert buckets.take("k") == 0.0


def test_rate_limit_answers_429_with_retry_after() -> None:
    now = [0.0]
    limited = RateLimitMiddleware(
        echo_app,
        settings(REPROKIT_RATE_LIMIT_RPS="0.5", REPROKIT_RATE_LIMIT_BURST="2"),
        clock=lambda: now[0],
    )
    app = ApiKeyMiddleware(limited, settings())
    headers = {"Authorization": "Bearer good-key"}
    statuses = [call(app, "POST", "/predict", headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = call(app, "POST", "/predict", headers=headers)
    assert refused.headers["retry-after"] == "2"
    assert call(app, "GET", "/metrics").status_code == 200


def test_body_limit_and_content_type() -> None:
    app = BodyLimitMiddleware(echo_app, settings(REPROKIT_MAX_BODY_BYTES="100"))
    json_type = {"content-type": "application/json"}
    assert call(app, "POST", "/predict", content=b"x" * 100, headers=json_type).text == "100"
    assert call(app, "POST", "/predict", content=b"x" * 101, headers=json_type).status_code == 413

    async def chunks() -> Any:
        yield b"x" * 60
        yield b"x" * 60

    streamed = call(app, "POST", "/predict", content=chunks(), headers=json_type)
    assert streamed.status_code == 413
    plain = call(app, "POST", "/predict", content=b"{}", headers={"content-type": "text/plain"})
    assert plain.status_code == 415


def test_a_body_that_stops_arriving_is_408() -> None:
    app = BodyLimitMiddleware(echo_app, settings(REPROKIT_BODY_TIMEOUT_S="0.2"))
    json_type = {"content-type": "application/json"}

    async def stalls() -> Any:
        yield b'{"records": ['
        await asyncio.sleep(5)  # a client that stops sending
        yield b"]}"

    async def trickles() -> Any:
        for _ in range(3):
            yield b" "
            await asyncio.sleep(0.01)

    started = time.monotonic()
    refused = call(app, "POST", "/predict", content=stalls(), headers=json_type)
    assert refused.status_code == 408 and time.monotonic() - started < 2
    assert refused.headers["connection"] == "close"
    assert call(app, "POST", "/predict", content=trickles(), headers=json_type).text == "3"


def test_timeout_answers_504() -> None:
    fast = settings(REPROKIT_REQUEST_TIMEOUT_S="0.5")
    assert call(TimeoutMiddleware(slow_app(0.01), fast), "POST", "/predict").status_code == 200
    slow = settings(REPROKIT_REQUEST_TIMEOUT_S="0.05")
    assert call(TimeoutMiddleware(slow_app(1.0), slow), "POST", "/predict").status_code == 504


def test_a_504_stops_the_work_in_its_thread() -> None:
    """Before, the thread ran to its end after the 504 (anyio waits for it, uninterrupted)."""
    import anyio.to_thread

    steps: list[int] = []

    def work(deadline: Deadline) -> None:
        for step in range(200):  # 2 s of work, in 10 ms steps
            deadline.check("step")
            steps.append(step)
            time.sleep(0.01)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        with contextlib.suppress(DeadlineExceededError):
            await anyio.to_thread.run_sync(work, deadline_in(scope))
        await echo_app(scope, receive, send)

    started = time.monotonic()
    timeout = TimeoutMiddleware(app, settings(REPROKIT_REQUEST_TIMEOUT_S="0.2"))
    assert call(timeout, "POST", "/predict").status_code == 504
    assert time.monotonic() - started < 1.0
    done = len(steps)
    time.sleep(0.1)
    assert 5 <= done < 40 and len(steps) == done  # stopped at its next step, not at 200


def test_a_504_before_the_work_begins_is_logged_once_and_the_work_never_runs() -> None:
    """CI once got a 504 and no `serving.work_stopped`: decoding a 66 MB body held the event
    loop past the timeout, so the task was cancelled before its thread ever started."""
    import anyio.to_thread

    ran: list[str] = []

    def work(deadline: Deadline) -> None:
        deadline.check("validation")
        ran.append("validation")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        time.sleep(0.3)  # a synchronous decode, past the timeout, on the event loop
        await anyio.to_thread.run_sync(work, deadline_in(scope))
        await echo_app(scope, receive, send)

    from structlog.testing import capture_logs

    timeout = TimeoutMiddleware(app, settings(REPROKIT_REQUEST_TIMEOUT_S="0.1"))
    with capture_logs() as logs:
        assert call(timeout, "POST", "/predict").status_code == 504
    stops = [event for event in logs if event["event"] == "serving.work_stopped"]
    assert ran == [] and [event["stage"] for event in stops] == ["start"], logs


def test_a_cancel_after_the_first_check_is_the_workers_to_report() -> None:
    begun = Deadline(10.0)
    begun.check("validation")
    assert begun.cancel() is False
    with pytest.raises(DeadlineExceededError) as stopped:
        begun.check("features")
    assert (stopped.value.stage, stopped.value.before_start) == ("features", False)
    waiting = Deadline(10.0)
    assert waiting.cancel() is True
    with pytest.raises(DeadlineExceededError) as never_began:
        waiting.check("validation")
    assert never_began.value.before_start is True


def test_predict_in_chunks_equals_one_call_and_checks_between_chunks() -> None:
    matrix = np.arange(10_000, dtype=np.float64).reshape(-1, 2)
    stages: list[str] = []
    chunked = predict_in_chunks(lambda m: m.sum(axis=1), matrix, stages.append, chunk_rows=1000)
    assert np.array_equal(chunked, matrix.sum(axis=1)) and len(stages) == 5
    expired = Deadline(0.0)
    with pytest.raises(DeadlineExceededError, match="stopped before predict"):
        predict_in_chunks(lambda m: m.sum(axis=1), matrix, expired.check)


@pytest.fixture
def app_logging() -> Iterator[None]:
    """`configure_app_logging` for one test; structlog and the `reprokit` logger as before."""
    import structlog

    saved_config = structlog.get_config()
    logger = logging.getLogger("reprokit")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    structlog.configure(**saved_config)
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def access_events(capsys: pytest.CaptureFixture[str], **env: str) -> tuple[str, list[Any]]:
    """One authenticated request with a payload through the access log in the JSON log
    format: everything written to stderr, and its access events."""
    configure_app_logging("json")
    app = AccessLogMiddleware(ApiKeyMiddleware(echo_app, settings()), settings(**env))
    response = call(
        app,
        "POST",
        "/predict",
        content=b'{"secret": 1}',
        headers={"Authorization": "Bearer good-key", "X-Request-ID": "abc-1"},
    )
    assert response.headers["x-request-id"] == "abc-1"
    written = capsys.readouterr().err
    return written, [json.loads(line) for line in written.splitlines() if '"access"' in line]


@pytest.mark.usefixtures("app_logging")
def test_access_events_have_the_one_log_schema_and_no_payload(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before: a hand-built JSON line with `ts`, next to structlog's `timestamp` events."""
    written, events = access_events(capsys)
    assert len(events) == 1 and written.startswith('{"event":"access",')
    event = events[0]
    assert set(event) == {
        # reprokit.logs' schema, the same as every other event of the process
        *("event", "level", "logger", "timestamp"),
        *("request_id", "method", "path", "status", "outcome", "latency_ms", "key_id", "pid"),
        *("model_tag", "model_version", "model_role"),
    }
    assert (event["logger"], event["level"]) == ("reprokit.serving.access", "info")
    assert datetime.fromisoformat(event["timestamp"]).utcoffset() == timedelta(0)
    assert (event["request_id"], event["status"], event["outcome"]) == ("abc-1", 200, "ok")
    assert event["key_id"] and event["latency_ms"] >= 0
    assert "secret" not in written and "good-key" not in written
    assert access_events(capsys, REPROKIT_ACCESS_LOG="off") == ("", [])


def test_bentoml_request_errors_are_logged_without_the_payload() -> None:
    """BentoML logs each refused body at ERROR with pydantic's traceback, which quotes it."""
    import io

    import pydantic

    class Body(pydantic.BaseModel):
        records: list[dict[str, Any]]

    keep_payloads_out_of_bentoml_logs()
    keep_payloads_out_of_bentoml_logs()  # once per process, however often it is called
    logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    assert sum(isinstance(f, PayloadFreeValidationErrors) for f in logger.filters) == 1
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    logger.addHandler(handler)
    try:
        for body in (b'{"records": [{"secret_marker": 1}', b'{"rows": ["secret_marker"]}'):
            try:
                Body.model_validate_json(body)
            except pydantic.ValidationError:
                logger.error("Exception on %s [%s]", "/predict", "POST", exc_info=True)
        try:
            raise RuntimeError("a server bug keeps its traceback")
        except RuntimeError:
            logger.error("Exception on %s [%s]", "/predict", "POST", exc_info=True)
    finally:
        logger.removeHandler(handler)
    text = sink.getvalue()
    assert "secret_marker" not in text and "input_value" not in text
    lines = text.splitlines()
    assert (
        lines[0]
        == "Exception on /predict [POST]: request body refused (1 validation errors: json_invalid)"
    )
    assert lines[1].endswith("(1 validation errors: missing)")
    assert "Traceback" in text and "a server bug keeps its traceback" in text


def test_metric_labels_collapse_unmatched_paths_and_routing_sees_the_real_one() -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    labels: list[str] = []
    routed: list[str] = []

    class LabelRecorder:  # stands in for BentoML's metrics middleware: labels by path
        def __init__(self, app: Any, namespace: str) -> None:
            self.app, self.namespace = app, namespace

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            labels.append(f"{self.namespace}:{scope['path']}")
            await self.app(scope, receive, send)

    async def seen(request: Request) -> PlainTextResponse:
        routed.append(request.url.path)
        return PlainTextResponse(request.url.path)

    app = Starlette(
        routes=[Route("/predict", seen, methods=["POST"]), Mount("/static", routes=[])],
        middleware=[
            Middleware(BoundedPathLabels, metrics_middleware=LabelRecorder, namespace="ns")
        ],
    )
    assert call(app, "POST", "/predict").text == "/predict"
    assert call(app, "GET", "/predict").status_code == 405  # a route: keeps its label
    assert call(app, "GET", "/no-such-path-123").status_code == 404
    assert call(app, "GET", "/static/random-file").status_code == 404
    assert labels == ["ns:/predict", "ns:/predict", f"ns:{UNMATCHED_PATH}", f"ns:{UNMATCHED_PATH}"]
    assert routed == ["/predict"]


def test_failed_api_keys_are_throttled_per_address() -> None:
    now = [0.0]
    app = ApiKeyMiddleware(
        echo_app,
        settings(REPROKIT_AUTH_FAILURES_RPS="0.5", REPROKIT_AUTH_FAILURES_BURST="2"),
        clock=lambda: now[0],
    )

    def status(key: str, address: str = "10.0.0.1") -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=app, client=(address, 1234))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.post("/predict", headers={"Authorization": f"Bearer {key}"})

        return asyncio.run(go())

    assert [status("guess").status_code for _ in range(3)] == [401, 401, 429]
    throttled = status("good-key")  # the address is throttled: a good key gets 429 too
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "2"
    assert status("good-key", address="10.0.0.2").status_code == 200  # per address
    now[0] = 2.0
    assert status("good-key").status_code == 200  # refilled; a good key takes no token
    assert status("guess").status_code == 401
    assert status("guess").status_code == 429


def test_workers_sharing_a_state_directory_throttle_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers' middleware (two store connections): the burst is the server's."""
    monkeypatch.setenv(STATE_DIR_VARIABLE, str(tmp_path))
    limits = settings(REPROKIT_AUTH_FAILURES_RPS="0.001", REPROKIT_AUTH_FAILURES_BURST="3")
    workers = [ApiKeyMiddleware(echo_app, limits) for _ in range(2)]
    guess = {"Authorization": "Bearer guess"}
    statuses = [
        call(workers[i % 2], "POST", "/predict", headers=guess).status_code for i in range(6)
    ]
    assert statuses == [401, 401, 401, 429, 429, 429]
