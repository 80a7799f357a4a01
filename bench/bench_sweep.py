"""Benchmark sweeps: a 6-job `reprokit run -m` against doing the same work without it.

    python bench/bench_sweep.py [--rows 200000] [--workdir DIR] [--keep]

On a throwaway git copy of the project with `data.source.rows` composed in and the raw data
prepared once (outside every measurement), every command given the same `data.source.rows=N`
override (`reprokit run` composes conf/, not params.yaml), six points model.num_leaves=15,31,63 x
model.learning_rate=0.05,0.1, every command a real `reprokit` process with tracking on:

- sweep: `reprokit run -m <points>` (sequential; empty node cache);
- independent: six full `reprokit run <point>` (what a user does without sweeps);
- minimal: one upstream pass `reprokit run -p prepare -p features`, then six
  `reprokit run -p <the other pipelines> <point>`: the least work a sweep can do, measured
  separately and summed, as a user would run it (seven processes, tracking on);
- work: the same pipelines in one Python process, tracking off, timing only the pipelines
  (no start-up, composition or MLflow): the strictest baseline;
- parallel: `reprokit run -m hydra/launcher=joblib hydra.launcher.n_jobs=2 <points>`
  (empty node cache), against the sequential sweep.

Goals (issue 15 part 6): sweep / work (and / minimal) <= 1.2, parallel >= 1.5x faster than
sequential (parallel / sequential <= 0.667) where the cores allow; sweep / independent <= 0.5.
Prints the ratios and writes `bench/results/sweep-<rows>.json` (bench/_common.save_results).
Timings are reported, never asserted (the machine is shared); what is checked is that the
work measured is the work intended (the sweep's six jobs finished, the upstream ran once).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as `python bench/<script>.py`: this folder is first on sys.path.
from _common import (
    TELEMETRY_OFF,
    VENV_BIN,
    BenchError,
    Progress,
    copy_worktree,
    run,
    save_results,
)

POINTS = [
    [f"model.num_leaves={leaves}", f"model.learning_rate={rate}"]
    for leaves in (15, 31, 63)
    for rate in (0.05, 0.1)
]
SWEEP = ["model.num_leaves=15,31,63", "model.learning_rate=0.05,0.1"]
UPSTREAM = ["prepare", "features"]
# Upper bounds on each ratio. Issue 15 part 6: the sweep at <= 1.2x the pipelines' own work,
# and the parallel launcher >= 1.5x faster than sequential (parallel / sequential <= 1 / 1.5)
# where the cores allow it.
GOALS = {
    "sweep_vs_independent": 0.5,
    "sweep_vs_minimal": 1.2,
    "sweep_vs_work": 1.2,
    "parallel_vs_sequential": round(1 / 1.5, 3),
}


def bench_env(copy: Path) -> dict[str, str]:
    env = {**os.environ, **TELEMETRY_OFF, "OMP_WAIT_POLICY": "PASSIVE"}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(copy / "src")  # the copy's code, not the editable install's
    env["PYTHONUNBUFFERED"] = "1"
    env["REPROKIT_LOG_FORMAT"] = "json"
    env.pop("MLFLOW_TRACKING_URI", None)
    env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "reprokit bench"
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "bench@reprokit.invalid"
    return env


def set_up(copy: Path, rows: int, env: dict[str, str]) -> list[str]:
    """The copy, its raw data, a migrated store; returns the non-upstream pipelines."""
    copy_worktree(copy)
    run(["git", "init", "-q"], copy, env)
    run(["reprokit", "config", "compose", f"data.source.rows={rows}"], copy, env)
    run(["git", "add", "-A"], copy, env)
    run(["git", "commit", "-q", "-m", "bench"], copy, env)
    run(["reprokit", "data", "prepare"], copy, env)
    code = "from mlflow import MlflowClient; MlflowClient(tracking_uri='sqlite:///mlruns.db')"
    run([sys.executable, "-c", code + ".search_experiments()"], copy, env)
    import yaml

    params = yaml.safe_load((copy / "params.yaml").read_text(encoding="utf-8"))
    return [name for name in params["pipeline"]["pipelines"] if name not in UPSTREAM]


# The strictest baseline: the pipelines' own time in one process (no start-up, no config
# composition, no tracking), one upstream pass then the other pipelines per point.
WORK_SCRIPT = """
import json, sys, time
from pathlib import Path
from reprokit.config.compose import workspace_from_conf
from reprokit.runner import run_pipelines

root = Path.cwd()
upstream, downstream, points = (json.loads(arg) for arg in sys.argv[1:4])
total = 0.0
for names, overrides in [(upstream, sys.argv[4:])] + [(downstream, point) for point in points]:
    workspace = workspace_from_conf(root, ["tracking=none", *overrides])
    started = time.perf_counter()
    run_pipelines(workspace.config, workspace.params, root, names)
    total += time.perf_counter() - started
print(json.dumps({"seconds": total}))
"""


def rows_override(rows: int) -> str:
    """Given to every command: `reprokit run` composes conf/ (10,000 rows by default), not the
    params.yaml `set_up` composed; without it each run regenerated the raw data at 10,000 rows."""
    return f"data.source.rows={rows}"


def raw_rows(copy: Path) -> int:
    """Rows of the raw data file as it is now (Parquet footer, or CSV lines after the header)."""
    import yaml

    params = yaml.safe_load((copy / "params.yaml").read_text(encoding="utf-8"))
    path = copy / params["data"]["path"]
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open(encoding="utf-8") as handle:
        return sum(1 for _ in handle) - 1


def check_rows(copy: Path, rows: int, label: str) -> None:
    found = raw_rows(copy)
    if found != rows:
        raise BenchError(f"after {label}: the raw data has {found} rows, expected {rows}")


def work_seconds(copy: Path, env: dict[str, str], downstream: list[str], rows: int) -> float:
    argv = [sys.executable, "-c", WORK_SCRIPT, json.dumps(UPSTREAM), json.dumps(downstream)]
    points = [[*point, rows_override(rows)] for point in POINTS]
    result = run([*argv, json.dumps(points), rows_override(rows)], copy, env)
    return float(json.loads(result.lines[-1][1])["seconds"])


def clear_cache(copy: Path) -> None:
    shutil.rmtree(copy / ".reprokit" / "cache", ignore_errors=True)


def events(result: Any, name: str) -> list[dict[str, Any]]:
    found = []
    for _, line in result.lines:
        if line.startswith("{") and f'"{name}"' in line:
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


def check_sweep(result: Any, label: str) -> None:
    done = [e for e in events(result, "sweep.job_done") if e["job"] >= 0]  # not the upstream
    if len(done) != len(POINTS) or any(e["status"] != "FINISHED" for e in done):
        raise BenchError(f"{label}: expected {len(POINTS)} finished jobs, got {done}")
    ingest = [e for e in events(result, "node.computed") if e.get("node") == "ingest"]
    if len(ingest) != 1:
        raise BenchError(f"{label}: the upstream ran {len(ingest)} times, expected once")


def finished_runs(copy: Path) -> int:
    with sqlite3.connect(copy / "mlruns.db") as connection:
        query = "SELECT count(*) FROM runs WHERE status='FINISHED'"
        return int(connection.execute(query).fetchone()[0])


def measure(copy: Path, rows: int, env: dict[str, str], say: Progress) -> dict[str, float]:
    say(f"setting up {copy} with {rows} rows")
    downstream = set_up(copy, rows, env)
    check_rows(copy, rows, "reprokit data prepare")
    sized = rows_override(rows)
    seconds: dict[str, float] = {}

    say("sweep: reprokit run -m (sequential)")
    clear_cache(copy)
    sweep = run(["reprokit", "run", "-m", *SWEEP, sized], copy, env)
    check_sweep(sweep, "sequential sweep")
    check_rows(copy, rows, "the sweep")  # it ran on the data prepared, not regenerated
    seconds["sweep"] = sweep.seconds

    say("parallel sweep: hydra/launcher=joblib hydra.launcher.n_jobs=2")
    clear_cache(copy)
    launcher = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    parallel = run(["reprokit", "run", "-m", *launcher, *SWEEP, sized], copy, env)
    check_sweep(parallel, "parallel sweep")
    seconds["parallel"] = parallel.seconds

    say("work: the pipelines' own time, one upstream pass + six trainings, in one process")
    seconds["work"] = work_seconds(copy, env, downstream, rows)

    say("minimal: one upstream pass + six trainings, separately")
    upstream_args = [arg for name in UPSTREAM for arg in ("-p", name)]
    minimal = run(["reprokit", "run", *upstream_args, sized], copy, env).seconds
    down_args = [arg for name in downstream for arg in ("-p", name)]
    for point in POINTS:
        minimal += run(["reprokit", "run", *down_args, *point, sized], copy, env).seconds
    seconds["minimal"] = minimal

    say("independent: six full runs")
    before = finished_runs(copy)
    seconds["independent"] = sum(
        run(["reprokit", "run", *point, sized], copy, env).seconds for point in POINTS
    )
    if finished_runs(copy) - before != len(POINTS):
        raise BenchError("the six independent runs did not record six FINISHED runs")
    check_rows(copy, rows, "every measurement")
    return seconds


def report(rows: int, seconds: dict[str, float], load_before: tuple[float, ...]) -> None:
    ratios = {
        "sweep_vs_independent": seconds["sweep"] / seconds["independent"],
        "sweep_vs_minimal": seconds["sweep"] / seconds["minimal"],
        "sweep_vs_work": seconds["sweep"] / seconds["work"],
        "parallel_vs_sequential": seconds["parallel"] / seconds["sweep"],
    }
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": rows,
        "jobs": len(POINTS),
        "cores": len(os.sched_getaffinity(0)),
        "machine": platform.platform(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "goals": GOALS,
    }
    out = save_results(f"sweep-{rows}", result)
    print(f"sweep benchmark, {rows} rows, {len(POINTS)} jobs, load {load_before[0]:.2f}")
    for name, value in seconds.items():
        print(f"  {name:<12} {value:8.1f} s")
    for name, value in ratios.items():
        verdict = "meets" if value <= GOALS[name] else "misses"
        print(f"  {name:<24} {value:6.3f}  ({verdict} goal <= {GOALS[name]})")
    print(f"wrote {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="reprokit-bench-sweep-"))
    load_before = os.getloadavg()
    try:
        seconds = measure(
            workdir / "project", args.rows, bench_env(workdir / "project"), Progress()
        )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report(args.rows, seconds, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
