"""Stage start-up and no-op `dvc repro`, each against a baseline measured in the same run.

    python bench/bench_startup.py [--rows 10000] [--repeats 5] [--ref REF] [--workdir DIR]

On a throwaway copy of the project (as bench_repro.py makes it, after one untimed full
`dvc repro`), per pipeline stage: `reprokit stage NAME` run as DVC runs it (DVC_STAGE and
DVC_ROOT set), timed from spawn to reprokit's `pipeline.start` line (start-up), from its
`pipeline.done` line to exit (finish), and its CPU seconds. The start-up baseline is a bare
interpreter importing the libraries that stage's nodes use (`import pandas, lightgbm` for
train): what a hand-written script pays before its first line of work. Then the no-op
`dvc repro` (nothing to do) against DVC's own floor, the no-op of a one-stage dvc.yaml in
a fresh repository, and the checks `make repro` runs before it. Timings are reported, never
asserted (the machines are shared); the minimum over the repeats is the figure to read.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Run as `python bench/<script>.py`: this folder is first on sys.path.
from _common import BenchError, Progress, Sample, run, save_results
from bench_repro import (
    PIPELINE_DONE,
    PIPELINE_START,
    bench_env,
    declared_stages,
    prepare_tracking_store,
    set_up_copy,
)

# What every stage reads and writes its tables with, before any node: the start-up baseline.
DATA_LIBRARIES = ("pandas", "pyarrow.parquet")
# What each stage's nodes import in all (a script doing the stage's work pays it once; the
# stages import the learners and plotting lazily, inside their nodes' time).
NODE_LIBRARIES = {
    "prepare": ("pandas", "pyarrow.parquet", "pandera.pandas", "sklearn.model_selection"),
    "features": ("pandas", "pyarrow.parquet"),
    "train": ("pandas", "pyarrow.parquet", "lightgbm"),
    "evaluate": ("pandas", "pyarrow.parquet", "lightgbm", "sklearn.metrics", "matplotlib.figure"),
}
# The checks of the Makefile's `repro` recipe, before its `dvc repro`.
MAKE_REPRO_CHECKS = (
    ("reprokit", "config", "check"),
    ("reprokit", "dvc", "check"),
    ("reprokit", "dvc", "plots-page"),
)
GOAL_STARTUP_SECONDS = 0.4
GOAL_NOOP_SECONDS = 1.0
GOAL_MAKE_REPRO_SECONDS = 2.0
FLOOR_DVC_YAML = (
    "stages:\n  one:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n"
)


@dataclass
class Timed:
    """Wall time of one command, its CPU seconds, and its lines with arrival times."""

    seconds: float
    cpu: float
    lines: list[tuple[float, str]]


def timed(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> Timed:
    """`run`, plus the CPU seconds (user + system) of the process and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run(argv, cwd, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timed(result.seconds, cpu, result.lines)


@dataclass
class StageSamples:
    startup: Sample = field(default_factory=Sample)
    finish: Sample = field(default_factory=Sample)
    total: Sample = field(default_factory=Sample)
    cpu: Sample = field(default_factory=Sample)
    baseline: Sample = field(default_factory=Sample)
    node_libraries: Sample = field(default_factory=Sample)


def stage_marks(result: Timed) -> tuple[float, float]:
    """Seconds from spawn to `pipeline.start`, and from `pipeline.done` to exit."""
    start = next((t for t, line in result.lines if PIPELINE_START.search(line)), None)
    done = next((t for t, line in result.lines if PIPELINE_DONE.search(line)), None)
    if start is None or done is None:
        raise BenchError("a stage printed no pipeline.start/pipeline.done line")
    return start, result.seconds - done


def pipeline_stage_names(copy: Path) -> list[str]:
    """The stages whose command is `reprokit stage NAME`, in dvc.yaml's order."""
    return [
        name
        for name, stage in declared_stages(copy).items()
        if str(stage.get("cmd", "")).startswith("reprokit stage ")
    ]


def _imports(modules: Sequence[str]) -> list[str]:
    return [sys.executable, "-c", f"import {', '.join(modules)}"]


def measure_stages(
    copy: Path, env: Mapping[str, str], repeats: int, progress: Progress
) -> dict[str, StageSamples]:
    stages = {name: StageSamples() for name in pipeline_stage_names(copy)}
    # Rounds over all stages (not one stage N times) so the machine's noise spreads evenly.
    for repeat in range(1, repeats + 1):
        for name, samples in stages.items():
            samples.baseline.add(timed(_imports(DATA_LIBRARIES), copy, env).seconds)
            libraries = NODE_LIBRARIES.get(name, DATA_LIBRARIES)
            samples.node_libraries.add(timed(_imports(libraries), copy, env).seconds)
            stage_env = {**env, "DVC_STAGE": name, "DVC_ROOT": str(copy)}
            result = timed(["reprokit", "stage", name], copy, stage_env)
            startup, finish = stage_marks(result)
            samples.startup.add(startup)
            samples.finish.add(finish)
            samples.total.add(result.seconds)
            samples.cpu.add(result.cpu)
        progress(f"stage start-up, round {repeat}/{repeats}")
    return stages


def dvc_floor_project(work: Path, env: Mapping[str, str]) -> Path:
    """A fresh git + DVC repository with one trivial stage, run once: DVC's own no-op."""
    floor = work / "dvc-floor"
    floor.mkdir()
    run(["git", "init", "-q"], floor, env)
    run(["dvc", "init", "-q"], floor, env)
    (floor / "in.txt").write_text("in\n", encoding="utf-8")
    (floor / "dvc.yaml").write_text(FLOOR_DVC_YAML, encoding="utf-8")
    run(["dvc", "repro"], floor, env)
    return floor


@dataclass
class NoopSamples:
    noop: Sample = field(default_factory=Sample)
    noop_cpu: Sample = field(default_factory=Sample)
    floor: Sample = field(default_factory=Sample)
    checks: dict[str, Sample] = field(default_factory=dict)


def measure_noop(
    copy: Path, floor: Path, env: Mapping[str, str], repeats: int, progress: Progress
) -> NoopSamples:
    m = NoopSamples(checks={" ".join(argv): Sample() for argv in MAKE_REPRO_CHECKS})
    for repeat in range(1, repeats + 1):
        m.floor.add(timed(["dvc", "repro"], floor, env).seconds)
        result = timed(["dvc", "repro"], copy, env)
        if any("Running stage" in line for _, line in result.lines):
            raise BenchError("the no-op `dvc repro` ran a stage")
        m.noop.add(result.seconds)
        m.noop_cpu.add(result.cpu)
        for argv in MAKE_REPRO_CHECKS:
            m.checks[" ".join(argv)].add(timed(argv, copy, env).seconds)
        progress(f"no-op dvc repro and make repro's checks, round {repeat}/{repeats}")
    return m


def _s(sample: Sample) -> str:
    return f"{sample.min:.2f} ({sample.median:.2f})"


def table(stages: Mapping[str, StageSamples], noop: NoopSamples) -> str:
    rows = [
        "seconds: min (median) over the repeats",
        "",
        f"| stage | start-up (goal <= {GOAL_STARTUP_SECONDS}) | baseline: "
        f"`import {', '.join(DATA_LIBRARIES)}` | start-up - baseline | finish | total "
        "| CPU | all its node libraries |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in stages.items():
        extra = s.startup.min - s.baseline.min
        rows.append(
            f"| {name} | {_s(s.startup)} | {_s(s.baseline)} | {extra:+.2f} "
            f"({s.startup.min / s.baseline.min:.2f}x) | {_s(s.finish)} | {_s(s.total)} "
            f"| {_s(s.cpu)} | {_s(s.node_libraries)} |"
        )
    checks = sum(sample.min for sample in noop.checks.values())
    rows += [
        "",
        "| measurement | reprokit | baseline | goal |",
        "|---|---|---|---|",
        f"| no-op `dvc repro` | {_s(noop.noop)}, CPU {_s(noop.noop_cpu)} | DVC floor (one "
        f"trivial stage) {_s(noop.floor)}: {noop.noop.min / noop.floor.min:.2f}x "
        f"| <= {GOAL_NOOP_SECONDS} |",
        *(f"| `{name}` | {_s(sample)} | - | - |" for name, sample in noop.checks.items()),
        f"| `make repro`, nothing to do (checks + no-op) | {checks + noop.noop.min:.2f} | - "
        f"| <= {GOAL_MAKE_REPRO_SECONDS} |",
    ]
    return "\n".join(rows)


def results_json(
    args: argparse.Namespace, stages: Mapping[str, StageSamples], noop: NoopSamples
) -> dict[str, object]:
    return {
        "rows": args.rows,
        "repeats": args.repeats,
        "ref": args.ref,
        "stages": {
            name: {key: getattr(s, key).as_json() for key in vars(s)} for name, s in stages.items()
        },
        "noop": noop.noop.as_json(),
        "noop_cpu": noop.noop_cpu.as_json(),
        "dvc_floor": noop.floor.as_json(),
        "make_repro_checks": {name: s.as_json() for name, s in noop.checks.items()},
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ref", default=None, help="Measure this commit instead of the tree.")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="Keep the work folder.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    progress = Progress()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="reprokit-bench-startup-"))
    copy = work / "project"
    env = bench_env(copy, "PASSIVE")
    try:
        set_up_copy(copy, args.rows, args.ref, env)
        prepare_tracking_store(copy, env)
        started = time.perf_counter()
        run(["dvc", "repro"], copy, env)
        progress(f"full dvc repro (untimed set-up): {time.perf_counter() - started:.1f} s")
        floor = dvc_floor_project(work, env)
        stages = measure_stages(copy, env, args.repeats, progress)
        noop = measure_noop(copy, floor, env, args.repeats, progress)
    except (BenchError, subprocess.CalledProcessError) as error:
        print(f"bench_startup: {error}", file=sys.stderr)
        return 1
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print(table(stages, noop))
    out = save_results(f"startup-{args.rows}", results_json(args, stages, noop))
    progress(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
