"""Helpers for tests: project copies and the project's real command-line tools."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# What a copy of the project needs: config, generated files, DVC's config, the code (the
# stages' deps), and packaging metadata. Never data, caches or the venv.
PROJECT_FILES = (
    "conf",
    "src",
    "params.yaml",
    "dvc.yaml",
    "pyproject.toml",
    "uv.lock",
    "bentofile.yaml",
    "requirements",
    ".dvc/config",
    ".telemetry",
    "README.md",
)


def migrated_mlflow_db(path: Path) -> Path:
    """An MLflow SQLite store with its migrations applied (~7 s), to copy per test."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def copy_project(destination: Path, mlflow_db: Path | None = None) -> Path:
    """A copy of the project's config, code and generated files in `destination`; with
    `mlflow_db`, a copy of that migrated store as the project's `mlruns.db`."""
    for name in PROJECT_FILES:
        source = PROJECT_ROOT / name
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, target)
    for layer in (
        "01_raw",
        "02_intermediate",
        "03_primary",
        "04_feature",
        "05_model_input",
        "06_models",
        "07_model_output",
        "08_reporting",
    ):
        (destination / "data" / layer).mkdir(parents=True, exist_ok=True)
    if mlflow_db is not None:
        shutil.copy2(mlflow_db, destination / "mlruns.db")
    return destination


def git_init(path: Path) -> None:
    """DVC wants a git repository; commit everything so `dvc status` has a baseline."""
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "copy"],
    ):
        subprocess.run(command, cwd=path, check=True, env=tool_env())


VENV_BIN = str(Path(sys.executable).parent)


def tool_env(project: Path | None = None) -> dict[str, str]:
    """The venv's tools first on PATH (DVC runs `reprokit stage ...`), telemetry off, and the
    project copy's own `src/` first on PYTHONPATH, so the code DVC hashes is the code run."""
    python_path = [str(project / "src")] if project and (project / "src").is_dir() else []
    return {
        **os.environ,
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


def commit_all(cwd: Path, message: str) -> None:
    run(["git", "add", "-A"], cwd)
    run(["git", "commit", "-q", "-m", message, "--allow-empty"], cwd)


def access_log_lines(log: Path, request_id: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The service's JSON access lines for `request_id`, waiting for them: a line is written
    once the response has gone out, so it may land just after the client has its answer."""
    import json
    import time

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


def free_port() -> int:
    """A TCP port free on loopback right now (for a server a test starts)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
