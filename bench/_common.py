"""What the benchmarks share: running commands with timestamped output, samples and
ratios, progress lines, and the environment every measured process gets."""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Telemetry off for every measured process: the variables reprokit's commands set.
from reprokit.core.env import TELEMETRY_OFF
from reprokit.core.fs import atomic_path

__all__ = ["TELEMETRY_OFF"]  # re-exported for the benchmarks

PROJECT = Path(__file__).resolve().parents[1]


# The venv's bin folder (not resolved: the venv python is a symlink to the system one).
VENV_BIN = Path(sys.executable).parent


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "reprokit bench",
    "GIT_AUTHOR_EMAIL": "bench@reprokit.invalid",
    "GIT_COMMITTER_NAME": "reprokit bench",
    "GIT_COMMITTER_EMAIL": "bench@reprokit.invalid",
}


RUNNING_STAGE = re.compile(r"Running stage '([^']+)'")


class BenchError(RuntimeError):
    """A step failed or did something else than the benchmark expects."""


@dataclass
class Run:
    """One finished command: wall seconds and its merged output, each line timestamped."""

    argv: list[str]
    seconds: float
    lines: list[tuple[float, str]]


def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> Run:
    """Run `argv`, timing it from spawn to exit; a non-zero exit is a `BenchError`."""
    lines: list[tuple[float, str]] = []
    started = time.perf_counter()
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    ) as process:
        assert process.stdout is not None
        # Read as lines arrive, so a line's timestamp is when it was printed (unbuffered env).
        for line in process.stdout:
            lines.append((time.perf_counter() - started, line.rstrip("\n")))
    seconds = time.perf_counter() - started
    result = Run(list(argv), seconds, lines)
    if process.returncode != 0:
        tail = "\n".join(line for _, line in lines[-40:])
        raise BenchError(f"`{' '.join(argv)}` exited with {process.returncode}:\n{tail}")
    return result


class Progress:
    """One line per step on stderr, with the time since the benchmark started."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        elapsed = time.perf_counter() - self.started
        print(f"[{elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass
class Sample:
    """Repeated wall times of one measurement, in seconds, with the machine's load."""

    runs: list[float] = field(default_factory=list)
    # 1-minute load average when each run ended: on a shared machine, the context a
    # reader needs to judge a timing (LightGBM's OpenMP threads suffer most from load).
    loads: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> float:
        self.runs.append(seconds)
        self.loads.append(round(os.getloadavg()[0], 2))
        return seconds

    @property
    def min(self) -> float:
        return min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def as_json(self) -> dict[str, Any]:
        return {"min": self.min, "median": self.median, "runs": self.runs, "loads": self.loads}


def ratio(top: Sample, bottom: Sample) -> dict[str, float]:
    return {"min": top.min / bottom.min, "median": top.median / bottom.median}


def ran_stages(result: Run) -> list[str]:
    return [m.group(1) for _, line in result.lines if (m := RUNNING_STAGE.search(line))]


# What a fresh clone has that a pipeline run needs: no data, DVC cache, lock or store.
CLONE_FILES = (
    "conf",
    "src",
    "params.yaml",
    "dvc.yaml",
    "pyproject.toml",
    "uv.lock",
    "bentofile.yaml",
    "requirements",
    ".dvc/config",
    ".dvc/.gitignore",
    ".telemetry",
    ".dvcignore",
    ".gitignore",
)


def copy_worktree(copy: Path, names: Iterable[str] = CLONE_FILES) -> None:
    """`names` from the working tree (those that exist) into `copy`, without bytecode."""
    for name in names:
        source, target = PROJECT / name, copy / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def make_data_layers(copy: Path) -> None:
    """The empty data layer folders a clone has (git keeps them with .gitkeep files)."""
    for layer in sorted((PROJECT / "data").glob("0*_*")):
        if layer.is_dir():
            (copy / "data" / layer.name).mkdir(parents=True, exist_ok=True)


def copy_project(copy: Path) -> None:
    """A clone-like copy of the working tree: the clone files and the data layers."""
    copy_worktree(copy)
    make_data_layers(copy)


def credit_features(rows: int) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """The project's params, the bundled credit table at `rows` rows (seed 7, as the
    pipeline's data stage) and the feature state fitted on it, for the feature benchmarks."""
    from reprokit.config.compose import workspace_from_conf
    from reprokit.datagen.writer import credit_chunks
    from reprokit.nodes.features import fit_feature_state

    params = workspace_from_conf(PROJECT, []).params
    frame = next(iter(credit_chunks(rows, seed=7, chunk_rows=rows)))
    data = params["data"]
    state = fit_feature_state(
        frame,
        params["features"],
        data["schema"],
        data["target"],
        data["task"],
        data.get("id_column"),
        data.get("timestamp_column"),
        data.get("group_column"),
    )
    return params, frame, state


RESULTS = PROJECT / "bench" / "results"


def save_results(name: str, document: Mapping[str, Any]) -> Path:
    """Write a benchmark's figures to `bench/results/<name>.json` (git-ignored: a measurement
    of one machine, not a source file)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    ignore = RESULTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*.json\n", encoding="utf-8")
    path = RESULTS / f"{name}.json"
    # Temp file + rename: an interrupted run leaves the last complete results, not half of new.
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
