"""Benchmark MLflow tracking's overhead: `reprokit run` with tracking on vs off, and `track`.

    python bench/bench_tracking.py [--rows 10000,100000,1000000] [--repeats 2]
                                   [--workdir DIR] [--keep] [--no-track-stage] [--omp-passive]

Per data size, on a throwaway git copy of the project with `data.source.rows` set by a Hydra
override (`reprokit config compose` + `reprokit dvc generate`) and the raw data prepared once:

1. per repeat, interleaved (the order alternates): `reprokit run tracking=none` and
   `reprokit run tracking=local` on a fresh copy of a migrated MLflow store (no store
   migration, no earlier runs or registered versions). Both are the same command, so
   process start-up is the same on both sides; the ratio is on / off. Each run is split at
   reprokit's `pipeline.start` / `pipeline.done` log lines into start-up, pipeline and finish
   (filling the MLflow run and registering the model happen in the finish);
2. the `track` stage: one `dvc repro track` (fresh store), then per repeat
   `dvc repro --force --single-item track`; its span from DVC's "Running stage 'track'" to
   the end of its output (a whole process: interpreter, imports, fingerprint, logging);
3. its baseline, interleaved with 2: `bench/baseline_tracking.py`, the tracking a good
   engineer would write by hand (one process: import MLflow, a run with params, metrics
   and the model file, a new registered version with an alias), on a store of its own.
   The track stage and the fixed cost of 1. are printed as ratios to it;
4. the floor, interleaved with 2 and 3: a process that only imports MLflow's client and its
   SQLite store (`FLOOR_CODE`), what any in-process MLflow logging pays before its first
   call. The track stage minus it is what reprokit itself spends.

Prints a table and writes `bench/results/tracking.json`. Timings are reported, never asserted
(the machine is shared); what is checked is that the work measured is the work intended (a
tracked run recorded exactly one FINISHED run, an untracked one none).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as `python bench/<script>.py`: this folder is first on sys.path.
from _common import (
    GIT_IDENTITY,
    PROJECT,
    RUNNING_STAGE,
    TELEMETRY_OFF,
    VENV_BIN,
    BenchError,
    Progress,
    Run,
    Sample,
    copy_project,
    ran_stages,
    ratio,
    run,
    save_results,
)

BASELINE = PROJECT / "bench" / "baseline_tracking.py"
GOAL_TRACK_SECONDS = 1.0
# The imports every MLflow-logging process pays before its first call (SqlAlchemyStore is
# what a sqlite:/// tracking URI opens); no store is opened, no run is created.
FLOOR_CODE = "from mlflow import MlflowClient; import mlflow.store.tracking.sqlalchemy_store"

DEFAULT_ROWS = (10_000, 100_000, 1_000_000)
GOAL_RATIO = 1.05  # at the largest size
GOAL_FIXED_SECONDS = 1.5  # at the smallest size
STORE = "mlruns.db"
ARTIFACTS = "mlartifacts"
TRACK_STAGE = "track"

# What DVC prints after a stage's own output: the lock update (only when the lock changes),
# or its closing advice when the stage was the last one.
STAGE_END = re.compile(r"Updating lock file|Use `dvc push`|To track the changes with git")


# --- running commands ---------------------------------------------------------------------


def bench_env(copy: Path, omp_passive: bool = False) -> dict[str, str]:
    env = {**os.environ, **TELEMETRY_OFF, **GIT_IDENTITY}
    if omp_passive:
        # Idle OpenMP threads sleep instead of spinning: on a loaded machine LightGBM's spinning
        # threads make training time swing by several times, drowning what is measured here.
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    # The venv's editable install points at the main checkout; the copy's own src must win.
    env["PYTHONPATH"] = str(copy / "src")
    env["PYTHONUNBUFFERED"] = "1"
    # JSON log lines: the pipeline markers are parsed, not guessed from console text.
    env["REPROKIT_LOG_FORMAT"] = "json"
    # The copy's own store whatever the shell points at; BentoML's store inside the copy.
    env.pop("MLFLOW_TRACKING_URI", None)
    env["BENTOML_HOME"] = str(copy / ".bentoml")
    return env


# --- statistics ---------------------------------------------------------------------------


def difference(top: Sample, bottom: Sample) -> dict[str, float]:
    return {"min": top.min - bottom.min, "median": top.median - bottom.median}


# --- the project copy and its store -------------------------------------------------------


def set_up_copy(copy: Path, rows: int, env: Mapping[str, str]) -> float:
    """Git copy with `data.source.rows=rows` composed in, and its raw data; returns the
    seconds `reprokit data prepare` took (outside every measurement)."""
    copy_project(copy)
    run(["git", "init", "-q"], copy, env)
    run(["reprokit", "config", "compose", f"data.source.rows={rows}"], copy, env)
    run(["reprokit", "dvc", "generate"], copy, env)
    run(["git", "add", "-A"], copy, env)
    run(["git", "commit", "-q", "-m", f"bench: data.source.rows={rows}"], copy, env)
    return run(["reprokit", "data", "prepare"], copy, env).seconds


def migrate_template(path: Path, env: Mapping[str, str]) -> Path:
    """A migrated MLflow store to copy before each tracked run (migrating costs seconds)."""
    code = (
        "import sys; from mlflow import MlflowClient; "
        "MlflowClient(tracking_uri='sqlite:///' + sys.argv[1]).search_experiments()"
    )
    run([sys.executable, "-c", code, str(path)], path.parent, env)
    return path


def fresh_store(copy: Path, template: Path) -> None:
    """An empty, migrated store: no experiment, run or registered version yet."""
    shutil.copy2(template, copy / STORE)
    shutil.rmtree(copy / ARTIFACTS, ignore_errors=True)


def run_statuses(copy: Path) -> list[str]:
    """Statuses of the runs in the copy's store (read directly: no mlflow import here)."""
    if not (copy / STORE).is_file():
        return []
    with sqlite3.connect(copy / STORE) as connection:
        return [status for (status,) in connection.execute("SELECT status FROM runs")]


# --- parsing reprokit and DVC output ------------------------------------------------------


@dataclass
class Phases:
    """One `reprokit run`, split at its log lines: start-up (spawn -> `pipeline.start`),
    pipeline (reprokit's own `pipeline.done` seconds), finish (`pipeline.done` -> exit)."""

    total: float
    startup: float
    pipeline: float
    finish: float


def _event(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        parsed = json.loads(line)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def phases(result: Run) -> Phases:
    start = done = None
    seconds = 0.0
    for at, line in result.lines:
        event = _event(line)
        if event is None:
            continue
        if event.get("event") == "pipeline.start":
            start = at
        elif event.get("event") == "pipeline.done":
            done, seconds = at, float(event.get("seconds", 0.0))
    if start is None or done is None:
        raise BenchError(f"no pipeline.start/pipeline.done lines in `{' '.join(result.argv)}`")
    return Phases(result.seconds, start, seconds, result.seconds - done)


def stage_span(result: Run, stage: str) -> float:
    """Seconds from DVC's "Running stage '<stage>'" to the end of that stage's output."""
    started = None
    for at, line in result.lines:
        match = RUNNING_STAGE.search(line)
        if started is not None and (match or STAGE_END.search(line)):
            return at - started
        if match and match.group(1) == stage:
            started = at
    if started is not None:
        return result.seconds - started
    raise BenchError(f"stage {stage!r} did not run in `{' '.join(result.argv)}`")


# --- the measurements ---------------------------------------------------------------------


@dataclass
class SizeResult:
    rows: int
    data_prepare: float = 0.0
    off: Sample = field(default_factory=Sample)
    on: Sample = field(default_factory=Sample)
    off_phases: list[Phases] = field(default_factory=list)
    on_phases: list[Phases] = field(default_factory=list)
    repro: float | None = None
    repro_stages: list[str] = field(default_factory=list)
    track_in_repro: float | None = None
    track: Sample = field(default_factory=Sample)
    track_wall: Sample = field(default_factory=Sample)
    baseline: Sample = field(default_factory=Sample)
    floor: Sample = field(default_factory=Sample)


@dataclass(frozen=True)
class Context:
    """Where and how one size is measured."""

    copy: Path
    template: Path
    repeats: int
    env: Mapping[str, str]
    progress: Progress


def reprokit_run(copy: Path, rows: int, tracking: str, env: Mapping[str, str]) -> Run:
    return run(["reprokit", "run", f"tracking={tracking}", f"data.source.rows={rows}"], copy, env)


def measure_off(m: SizeResult, ctx: Context) -> float:
    (ctx.copy / STORE).unlink(missing_ok=True)
    result = reprokit_run(ctx.copy, m.rows, "none", ctx.env)
    if run_statuses(ctx.copy):
        raise BenchError("tracking=none recorded a run")
    m.off_phases.append(phases(result))
    return m.off.add(result.seconds)


def measure_on(m: SizeResult, ctx: Context) -> float:
    fresh_store(ctx.copy, ctx.template)
    result = reprokit_run(ctx.copy, m.rows, "local", ctx.env)
    statuses = run_statuses(ctx.copy)
    if statuses != ["FINISHED"]:
        raise BenchError(f"tracking=local recorded {statuses}, not one FINISHED run")
    m.on_phases.append(phases(result))
    return m.on.add(result.seconds)


def measure_overhead(m: SizeResult, ctx: Context) -> None:
    """Tracking off and on, interleaved; the order alternates so drift hits both alike."""
    for repeat in range(ctx.repeats):
        for side in ("off", "on") if repeat % 2 == 0 else ("on", "off"):
            seconds = measure_off(m, ctx) if side == "off" else measure_on(m, ctx)
            ctx.progress(
                f"  {m.rows:,} rows, tracking {side:<3}, repeat {repeat + 1}: {seconds:.2f} s"
            )


def measure_track_stage(m: SizeResult, ctx: Context) -> None:
    """The `track` stage inside a `dvc repro`, then on its own (forced) per repeat."""
    fresh_store(ctx.copy, ctx.template)
    result = run(["dvc", "repro", TRACK_STAGE], ctx.copy, ctx.env)
    m.repro, m.repro_stages = result.seconds, ran_stages(result)
    if TRACK_STAGE not in m.repro_stages:
        raise BenchError(f"dvc repro {TRACK_STAGE} ran {m.repro_stages}, not the track stage")
    m.track_in_repro = stage_span(result, TRACK_STAGE)
    ctx.progress(
        f"  dvc repro {TRACK_STAGE}: {result.seconds:.2f} s, track {m.track_in_repro:.2f} s"
    )
    store = ctx.copy / "baseline.db"
    shutil.copy2(ctx.template, store)
    for repeat in range(ctx.repeats):
        forced = run(["dvc", "repro", "--force", "--single-item", TRACK_STAGE], ctx.copy, ctx.env)
        m.track_wall.add(forced.seconds)
        span = m.track.add(stage_span(forced, TRACK_STAGE))
        ctx.progress(f"  track stage alone, repeat {repeat + 1}: {span:.2f} s")
        argv = [sys.executable, str(BASELINE), str(store), str(ctx.copy / "baseline-artifacts")]
        seconds = m.baseline.add(run([*argv, str(ctx.copy)], ctx.copy, ctx.env).seconds)
        ctx.progress(f"  baseline tracking script, repeat {repeat + 1}: {seconds:.2f} s")
        seconds = m.floor.add(run([sys.executable, "-c", FLOOR_CODE], ctx.copy, ctx.env).seconds)
        ctx.progress(
            f"  floor (MLflow client + SQLite store imports), repeat {repeat + 1}: {seconds:.2f} s"
        )


# --- reporting ----------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def phase_medians(items: list[Phases]) -> dict[str, float]:
    return {
        "startup": _median([p.startup for p in items]),
        "pipeline": _median([p.pipeline for p in items]),
        "finish": _median([p.finish for p in items]),
    }


def _row(name: str, sample: Sample, note: str = "") -> str:
    return f"{name:<46}{sample.min:9.2f}{sample.median:9.2f}  {note}".rstrip()


def size_lines(m: SizeResult) -> list[str]:
    r, d = ratio(m.on, m.off), difference(m.on, m.off)
    off, on = phase_medians(m.off_phases), phase_medians(m.on_phases)
    lines = [
        f"{m.rows:,} rows (data prepare {m.data_prepare:.2f} s, outside the timings)",
        _row("  reprokit run tracking=none", m.off),
        _row("  reprokit run tracking=local", m.on, "fresh migrated store each run"),
        f"{'  ratio on / off':<46}{r['min']:8.3f}x{r['median']:8.3f}x",
        f"{'  fixed cost on - off (s)':<46}{d['min']:9.2f}{d['median']:9.2f}",
        "  median phases (s)      startup  pipeline    finish",
        f"    tracking none      {off['startup']:9.2f}{off['pipeline']:10.2f}{off['finish']:10.2f}",
        f"    tracking local     {on['startup']:9.2f}{on['pipeline']:10.2f}{on['finish']:10.2f}",
        f"    on - off           {on['startup'] - off['startup']:9.2f}"
        f"{on['pipeline'] - off['pipeline']:10.2f}{on['finish'] - off['finish']:10.2f}"
        "   (finish: filling the run, registering the model)",
    ]
    if m.track.runs:
        lines += [
            f"{'  track stage in dvc repro track (s)':<46}{m.track_in_repro or 0.0:9.2f}"
            f"{'':9}  of {m.repro or 0.0:.2f} s ({', '.join(m.repro_stages)})",
            _row("  track stage alone (span)", m.track, "dvc repro -f -s track"),
            _row("  dvc repro -f -s track (wall)", m.track_wall),
            _row("  baseline tracking script", m.baseline, "bench/baseline_tracking.py"),
            _row("  floor: MLflow client + SQLite store imports", m.floor, "python -c, no call"),
            *baseline_lines(m),
        ]
    return lines


def baseline_ratios(m: SizeResult) -> dict[str, float]:
    """The track stage and the fixed cost over the hand-written script, by median."""
    script = m.baseline.median
    return {
        "track_stage": m.track.median / script,
        "fixed_cost": difference(m.on, m.off)["median"] / script,
        "track_stage_over_floor": m.track.median / m.floor.median,
        "track_stage_minus_floor": m.track.median - m.floor.median,
    }


def baseline_lines(m: SizeResult) -> list[str]:
    r = baseline_ratios(m)
    return [
        f"{'  track stage / baseline script':<46}{'':9}{r['track_stage']:8.2f}x",
        f"{'  fixed cost / baseline script':<46}{'':9}{r['fixed_cost']:8.2f}x",
        f"{'  track stage / floor':<46}{'':9}{r['track_stage_over_floor']:8.2f}x",
        f"{'  track stage - floor (s): reprokit + MLflow calls':<46}{'':9}"
        f"{r['track_stage_minus_floor']:9.2f}",
    ]


def table(sizes: list[SizeResult], repeats: int, omp_passive: bool) -> str:
    omp = "; OMP_WAIT_POLICY=PASSIVE" if omp_passive else ""
    lines = [
        f"reprokit tracking overhead: {repeats} repeat(s), {os.cpu_count()} CPU(s){omp}; seconds",
        f"{'':<46}{'min':>9}{'median':>9}",
    ]
    for m in sizes:
        lines += [*size_lines(m), ""]
    lines += goal_lines(sizes)
    loads = [x for m in sizes for s in (m.off, m.on, m.track) for x in s.loads]
    if loads:
        lines.append(f"1-min load average after the timed runs: {min(loads):.1f}..{max(loads):.1f}")
    return "\n".join(lines)


def goals(sizes: list[SizeResult]) -> dict[str, Any]:
    largest, smallest = sizes[-1], sizes[0]
    ratio_largest = ratio(largest.on, largest.off)["median"]
    fixed = difference(smallest.on, smallest.off)["median"]
    track = smallest.track.median if smallest.track.runs else None
    return {
        "track_stage_max_seconds": GOAL_TRACK_SECONDS,
        "track_stage_median_seconds": track,
        "track_stage_met_by_median": track is not None and track <= GOAL_TRACK_SECONDS,
        "ratio_max": GOAL_RATIO,
        "ratio_rows": largest.rows,
        "ratio_median": ratio_largest,
        "ratio_met_by_median": ratio_largest <= GOAL_RATIO,
        "fixed_cost_max_seconds": GOAL_FIXED_SECONDS,
        "fixed_cost_rows": smallest.rows,
        "fixed_cost_median_seconds": fixed,
        "fixed_cost_met_by_median": fixed < GOAL_FIXED_SECONDS,
    }


def goal_lines(sizes: list[SizeResult]) -> list[str]:
    g = goals(sizes)
    met = {True: "met", False: "NOT met"}
    track = (
        []
        if g["track_stage_median_seconds"] is None
        else [
            f"goal: track stage at {g['fixed_cost_rows']:,} rows <= {GOAL_TRACK_SECONDS} s: "
            f"{g['track_stage_median_seconds']:.2f} s by median, "
            f"{met[g['track_stage_met_by_median']]}"
        ]
    )
    return [
        *track,
        f"goal: ratio at {g['ratio_rows']:,} rows <= {GOAL_RATIO}x: "
        f"{g['ratio_median']:.3f}x by median, {met[g['ratio_met_by_median']]}",
        f"goal: fixed cost at {g['fixed_cost_rows']:,} rows < {GOAL_FIXED_SECONDS} s: "
        f"{g['fixed_cost_median_seconds']:.2f} s by median, "
        f"{met[g['fixed_cost_met_by_median']]}",
    ]


def size_json(m: SizeResult) -> dict[str, Any]:
    return {
        "rows": m.rows,
        "data_prepare_seconds": m.data_prepare,
        "tracking_none": {**m.off.as_json(), "phases": [vars(p) for p in m.off_phases]},
        "tracking_local": {**m.on.as_json(), "phases": [vars(p) for p in m.on_phases]},
        "ratio_on_over_off": ratio(m.on, m.off),
        "fixed_cost_seconds": difference(m.on, m.off),
        # Less noise-sensitive than the totals: what the finish (after the pipeline) adds.
        "finish_phase_cost_seconds": phase_medians(m.on_phases)["finish"]
        - phase_medians(m.off_phases)["finish"],
        "track_stage": {
            "dvc_repro_seconds": m.repro,
            "dvc_repro_stages": m.repro_stages,
            "span_in_repro": m.track_in_repro,
            "alone": m.track.as_json() if m.track.runs else None,
            "alone_wall": m.track_wall.as_json() if m.track_wall.runs else None,
            "baseline_script": m.baseline.as_json() if m.baseline.runs else None,
            "floor_imports": m.floor.as_json() if m.floor.runs else None,
            "over_baseline": baseline_ratios(m) if m.baseline.runs else None,
        },
    }


def write_results(sizes: list[SizeResult], repeats: int, omp_passive: bool) -> Path:
    document = {
        "benchmark": "tracking",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "repeats": repeats,
        "omp_wait_policy": "PASSIVE" if omp_passive else "default",
        "sizes": [size_json(m) for m in sizes],
        "goals": goals(sizes),
    }
    return save_results("tracking", document)


# --- main ---------------------------------------------------------------------------------


def benchmark(args: argparse.Namespace, work: Path, progress: Progress) -> list[SizeResult]:
    template = migrate_template(work / "template.db", bench_env(work))
    progress("migrated an MLflow store template (copied before each tracked run)")
    sizes = []
    for rows in args.rows:
        copy = work / f"project-{rows}"
        env = bench_env(copy, args.omp_passive)
        m = SizeResult(rows=rows)
        progress(f"{rows:,} rows: copying the project, compose, dvc generate, data prepare")
        m.data_prepare = set_up_copy(copy, rows, env)
        ctx = Context(copy, template, args.repeats, env, progress)
        measure_overhead(m, ctx)
        if args.track_stage:
            measure_track_stage(m, ctx)
        sizes.append(m)
        if not args.keep:
            shutil.rmtree(copy, ignore_errors=True)
    return sizes


def parse_rows(text: str) -> list[int]:
    rows = sorted({int(part) for part in text.split(",") if part.strip()})
    if not rows or rows[0] < 100:
        raise argparse.ArgumentTypeError("rows must be >= 100, comma-separated")
    return rows


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--rows",
        type=parse_rows,
        default=list(DEFAULT_ROWS),
        help="data.source.rows sizes, comma-separated (default: 10000,100000,1000000)",
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs of each measurement (>= 2)")
    parser.add_argument("--workdir", type=Path, help="where the copies go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the copies afterwards")
    parser.add_argument(
        "--no-track-stage",
        dest="track_stage",
        action="store_false",
        help="skip the `track` stage measurement (a dvc repro per size)",
    )
    parser.add_argument(
        "--omp-passive",
        action="store_true",
        help="OMP_WAIT_POLICY=PASSIVE on both sides (less load sensitivity; not what users get)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    return args


def work_dir(requested: Path | None) -> Path:
    if requested is None:
        return Path(tempfile.mkdtemp(prefix="reprokit-bench-tracking-"))
    work = requested.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if any(work.iterdir()):
        raise BenchError(f"{work} is not empty; choose an empty --workdir")
    return work


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not (VENV_BIN / "dvc").exists() or not (VENV_BIN / "reprokit").exists():
        print(f"error: run with the project's venv python (no dvc/reprokit in {VENV_BIN})")
        return 2
    progress = Progress()
    try:
        work = work_dir(args.workdir)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        sizes = benchmark(args, work, progress)
        path = write_results(sizes, args.repeats, args.omp_passive)
        print(table(sizes, args.repeats, args.omp_passive))
        print(f"\nwrote {path}")
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            progress(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
