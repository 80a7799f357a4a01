"""`reprokit run -m` / `reprokit tune` as subprocesses: JSON log events and the parent and
job runs of one sweep in the copy's store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support.mlflow_store import EXPERIMENT, store_client
from tests.support.tools import run, tool_env

SMALL = ["data.source.rows=2000"]  # jobs that take seconds, not minutes


def reprokit(root: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    """`reprokit ARGS` in `root` with JSON logs (for `events`), expecting exit code `expect`."""
    env = {**tool_env(root), "REPROKIT_LOG_FORMAT": "json", "COLUMNS": "250"}
    result = run(["reprokit", *args], root, check=False, env=env)
    assert result.returncode == expect, (
        f"reprokit {' '.join(args)} exited {result.returncode}\n{result.stdout[-3000:]}\n"
        f"{result.stderr[-3000:]}"
    )
    return result


def events(result: subprocess.CompletedProcess[str], name: str) -> list[dict[str, Any]]:
    """The JSON log records of event `name` a command wrote to stderr."""
    found = []
    for line in result.stderr.splitlines():
        if line.startswith("{") and f'"{name}"' in line:
            record = json.loads(line)
            if record.get("event") == name:
                found.append(record)
    return found


def sweep_runs(root: Path, sweep_id: str) -> tuple[Any, list[Any]]:
    """The sweep's one parent run and its job runs, in job order."""
    store = store_client(root)
    experiment = store.get_experiment_by_name(EXPERIMENT).experiment_id
    found = store.search_runs([experiment], f"tags.`rk.sweep_id` = '{sweep_id}'")
    parents = [r for r in found if r.data.tags["rk.sweep_role"] == "parent"]
    jobs = [r for r in found if r.data.tags["rk.sweep_role"] == "job"]
    assert len(parents) == 1
    return parents[0], sorted(jobs, key=lambda r: int(r.data.tags["rk.sweep_job"]))


def sweep_id_of(result: subprocess.CompletedProcess[str]) -> str:
    first = result.stdout.splitlines()[0]
    assert first.startswith("sweep sweep-"), result.stdout
    return first.split()[1].rstrip(":")
