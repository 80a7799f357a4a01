"""A packaged project behind a real `bentoml serve`: its environment, the server on a free
loopback port (its whole process group ended after), and its JSON access log."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.templates import relocated_copy
from tests.support.tools import free_port, run, stdout_of, stop_group, tool_env

if TYPE_CHECKING:
    import httpx

API_KEY = "test-key-1"
BURST_KEY = "test-key-burst"
MAX_BODY_BYTES = 2_000_000
BURST = 150
AUTH_FAILURE_BURST = 20
BODY_TIMEOUT_S = 1
# The service's protections set tight enough for a test to reach each limit.
SERVICE_SETTINGS = {
    "REPROKIT_API_KEYS": f"{API_KEY},{BURST_KEY}",
    "REPROKIT_RATE_LIMIT_RPS": "5",
    "REPROKIT_RATE_LIMIT_BURST": str(BURST),
    "REPROKIT_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    "REPROKIT_AUTH_FAILURES_RPS": "0.5",
    "REPROKIT_AUTH_FAILURES_BURST": str(AUTH_FAILURE_BURST),
    "REPROKIT_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
    # The access log is read back as JSON lines (tests.support.access_log_lines).
    "REPROKIT_LOG_FORMAT": "json",
}
STARTUP_SECONDS = 120


@dataclass(frozen=True)
class Packaged:
    """A project copy trained by `reprokit run` and packaged into its own BentoML store."""

    root: Path
    env: dict[str, str]
    tag: str


def packaged_project(
    base: Path,
    trained: Path,
    settings: Mapping[str, str] = SERVICE_SETTINGS,
    then: Sequence[list[str]] = (),
) -> Packaged:
    """`base/project`, a copy of the `trained` template (the `trained_template` fixture:
    the default `reprokit run`), then each of the `then` commands run in it, then packaged
    with the service `settings` (its BentoML store in `base/bentoml`)."""
    root = relocated_copy(trained, base / "project")
    for args in then:
        run(args, root)
    env = bentoml_env(root, base / "bentoml", settings)
    tag = stdout_of(["reprokit", "package"], root, env).strip().split()[-1]
    return Packaged(root, env, tag)


def bentoml_env(
    root: Path, home: Path, settings: Mapping[str, str] = SERVICE_SETTINGS
) -> dict[str, str]:
    """The tools' environment with a BentoML store of the test's own (never ~/bentoml) and
    the service `settings` (REPROKIT_* variables); one server worker unless `settings` say
    otherwise (the default, one per core, would multiply every server's start-up cost)."""
    return {
        **tool_env(root),
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
        "REPROKIT_WORKERS": "1",
        **settings,
    }


def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"bentoml serve exited {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"bentoml serve not ready in {STARTUP_SECONDS} s:\n{log.read_text()}")


@contextmanager
def bentoml_server(root: Path, env: Mapping[str, str], log: Path) -> Iterator[str]:
    """`bentoml serve` from `root` on a free loopback port, ready; yields its URL, and ends
    its whole process group after (its workers too). Output goes to `log`."""
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["bentoml", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=root,
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown ends the workers too
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(process, url, log)
        yield url
    finally:
        stop_group(process)


def split_records(
    root: Path, rows: int | None = None, offset: int = 0, target: str = "default"
) -> list[dict[str, Any]]:
    """Rows of the project's test split as the records a client sends (no target column)."""
    import pandas as pd

    from reprokit.serving.batch import frame_to_records

    test = pd.read_parquet(root / "data/03_primary/test.parquet").drop(columns=[target])
    return frame_to_records(
        test.iloc[offset:] if rows is None else test.iloc[offset : offset + rows]
    )


def predict(url: str, body: Any, key: str | None = API_KEY, **kwargs: Any) -> httpx.Response:
    """POST `body` as JSON to the service's /predict with `key` as bearer token (None: no
    Authorization header); `content=` sends raw bytes instead, `headers=` adds headers."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    headers.update(kwargs.pop("headers", {}))
    if "content" not in kwargs:
        kwargs["content"] = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    return httpx.post(f"{url}/predict", headers=headers, timeout=60, **kwargs)


def access_log_lines(log: Path, request_id: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The service's JSON access lines for `request_id`, waiting for them: a line is written
    once the response has gone out, so it may land just after the client has its answer."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            json.loads(line)
            for line in log.read_text().splitlines()
            if line.startswith('{"event":"access"') and f'"request_id":"{request_id}"' in line
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
