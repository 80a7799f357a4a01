"""A real `mlflow server` on a free loopback port: started, waited for until healthy, and
ended with its whole process group (the test fails if any of it is left running)."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.tools import free_port, group_alive, stop_group, tool_env

START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class MlflowServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]


def server_env(project: Path | None = None) -> dict[str, str]:
    env = tool_env(project)
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    # The GenAI job runner starts seven worker processes no test here needs.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_until_healthy(server: MlflowServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            code = server.process.returncode
            raise AssertionError(f"mlflow server exited with {code}:\n{server.tail()}")
        if healthy(server.url):
            return
        time.sleep(0.5)
    raise AssertionError(
        f"mlflow server not healthy within {START_TIMEOUT_S:.0f} s:\n{server.tail()}"
    )


@contextmanager
def mlflow_server(
    backend_uri: str, cwd: Path, log: Path, extra: Sequence[str] = (), project: Path | None = None
) -> Iterator[MlflowServer]:
    """`mlflow server --backend-store-uri backend_uri` (one worker, plus `extra` arguments)
    run from `cwd`, its output in `log`; `project`'s tools and code first on the paths."""
    port = free_port()
    command = ["mlflow", "server", "--backend-store-uri", backend_uri, *extra]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=server_env(project),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the teardown ends all of it
        )
    running = MlflowServer(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_healthy(running)
        yield running
    finally:
        stop_group(process)
    assert not group_alive(process.pid), "mlflow server processes were left running"
