"""The project's real command-line tools as subprocesses: their environment, one-shot runs,
servers in their own process group, and loopback ports for them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

VENV_BIN = str(Path(sys.executable).parent)
STOP_TIMEOUT = 30.0


def tool_env(project: Path | None = None) -> dict[str, str]:
    """The venv's tools first on PATH (DVC runs `reprokit stage ...`), telemetry off, and the
    project copy's own `src/` first on PYTHONPATH, so the code DVC hashes is the code run."""
    python_path = [str(project / "src")] if project and (project / "src").is_dir() else []
    # A tracking URI from the shell (or leaked by an in-process test) would send the copy's
    # runs to another store; a test that wants one passes it explicitly.
    inherited = {name: value for name, value in os.environ.items() if name != "MLFLOW_TRACKING_URI"}
    return {
        **inherited,
        "PYTHONPATH": os.pathsep.join([*python_path, os.environ.get("PYTHONPATH", "")]),
        # Packaging writes to a BentoML store: the copy's own, never the user's ~/bentoml.
        **({"BENTOML_HOME": str(project / ".bentoml")} if project else {}),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "DVC_NO_ANALYTICS": "true",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }


def run(
    args: list[str],
    cwd: Path,
    check: bool = True,
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`args` in `cwd` with `tool_env(cwd)` (or `env`); `check`: fail with its output."""
    result = subprocess.run(
        args,
        cwd=cwd,
        env=env or tool_env(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout[-4000:]}"
            f"\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def free_port() -> int:
    """A TCP port free on loopback right now (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is left (signal 0 checks without signalling)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def group_gone(process: subprocess.Popen[Any], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        process.poll()  # reap the leader: a zombie still counts as a member of its group
        if not group_alive(process.pid):
            return True
        time.sleep(0.2)
    return False


def stop_group(process: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the process group a server leads (`start_new_session=True`: uvicorn and its
    workers), SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not group_alive(process.pid):
            break
        os.killpg(process.pid, sig)
        if group_gone(process, timeout):
            break
    process.wait(timeout=timeout)


def stdout_of(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> str:
    """What `args` printed, failing the test with its output when it exits non-zero."""
    return run(args, cwd, timeout=timeout, env=env).stdout
