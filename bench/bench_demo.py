"""The demo a user runs first: `dvc repro -f` at 10,000 rows, per stage, before vs after.

    python bench/bench_demo.py [--rows 10000] [--repeats 3] [--before REF] [--workdir DIR]

On throwaway copies of the project (as bench_repro.py makes them: the working tree, and with
`--before REF` also commit REF), after one untimed `dvc repro` each: `dvc repro -f` (every
stage runs, with everything it finds after a user's first run: data, DVC cache, MLflow
store, BentoML store, Feast registry) in rounds, one copy after the other, so the machine's
noise falls on both sides alike. Each stage's span is from DVC's "Running stage" line to the
next one (the last: to exit), as in the lead's figures for issue 15. The floor is a bare
interpreter importing what every stage reads and writes its tables with (`import pandas,
pyarrow.parquet`): what a stage costs at the least before its first line of work. Timings
are reported, never asserted; the minimum over the repeats is the figure to read.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Run as `python bench/<script>.py`: this folder is first on sys.path.
from _common import RUNNING_STAGE, BenchError, Progress, Run, Sample, run, save_results
from bench_repro import LOCK_UPDATED, bench_env, prepare_tracking_store, set_up_copy

FLOOR_IMPORTS = "import pandas, pyarrow.parquet"
DVC_DONE = re.compile(r"^Use `dvc push`")
GOAL_REPRO_SECONDS = 15.0


@dataclass
class Side:
    """One copy of the project: its `dvc repro -f` wall times and each stage's spans."""

    label: str
    copy: Path
    env: dict[str, str]
    total: Sample = field(default_factory=Sample)
    stages: dict[str, Sample] = field(default_factory=dict)
    tails: dict[str, Sample] = field(default_factory=dict)


def stage_spans(result: Run) -> dict[str, tuple[float, float]]:
    """Per stage: seconds from its "Running stage" line to the next one (the last: to exit),
    and the tail of that span after the command's last line (the process's exit, then DVC
    hashing and caching the outputs and rewriting dvc.lock)."""
    spans: dict[str, tuple[float, float]] = {}
    # name, start, the command's last line so far, whether DVC said "Updating lock file"
    current: tuple[str, float, float, bool] | None = None
    for at, line in [*result.lines, (result.seconds, "")]:
        match = RUNNING_STAGE.search(line)
        if current is not None and (match or at == result.seconds):
            name, started, last, _ = current
            spans[name] = (at - started, at - last)
        if match:
            current = (match.group(1), at, at, False)
        elif current is not None and not current[3] and line.strip():
            # DVC's own lines after the command (3.67 prints the lock line only with -v).
            name, started, last, _ = current
            dvc_after = bool(LOCK_UPDATED.search(line) or DVC_DONE.search(line))
            current = (name, started, last if dvc_after else at, dvc_after)
    return spans


def set_up(side: Side, rows: int, ref: str | None, progress: Progress) -> None:
    set_up_copy(side.copy, rows, ref, side.env)
    prepare_tracking_store(side.copy, side.env)
    started = time.perf_counter()
    run(["dvc", "repro"], side.copy, side.env)
    progress(f"{side.label}: first dvc repro (untimed): {time.perf_counter() - started:.1f} s")


def measure(sides: Sequence[Side], floor: Sample, repeats: int, progress: Progress) -> None:
    for repeat in range(1, repeats + 1):
        floor.add(run([sys.executable, "-c", FLOOR_IMPORTS], sides[0].copy, sides[0].env).seconds)
        for side in sides:
            result = run(["dvc", "repro", "-f"], side.copy, side.env)
            side.total.add(result.seconds)
            for name, (span, tail) in stage_spans(result).items():
                side.stages.setdefault(name, Sample()).add(span)
                side.tails.setdefault(name, Sample()).add(tail)
        progress(f"dvc repro -f, round {repeat}/{repeats}")


def _s(sample: Sample | None) -> str:
    return "-" if sample is None else f"{sample.min:.2f} ({sample.median:.2f})"


def table(sides: Sequence[Side], floor: Sample, rows: int) -> str:
    after, before = sides[0], sides[1] if len(sides) > 1 else None
    head = ["stage", *(side.label for side in reversed(sides))]
    if before is not None:
        head.append("after / before")
    head += ["after - floor", "after / floor", "after: exit + DVC saving"]
    lines = [
        f"`dvc repro -f` at {rows:,} rows; seconds, min (median) over the repeats; floor: "
        f'`python -c "{FLOOR_IMPORTS}"` {_s(floor)}',
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    names = list(after.stages) + [
        n for n in (before.stages if before else {}) if n not in after.stages
    ]
    rows_: list[tuple[str, Sample | None, Sample | None]] = [
        (name, after.stages.get(name), before.stages.get(name) if before else None)
        for name in names
    ]
    tails = [after.tails.get(name) for name in names] + [None]
    rows_.append(
        (
            f"**total** (goal <= {GOAL_REPRO_SECONDS:.0f})",
            after.total,
            before.total if before else None,
        )
    )
    for (name, a, b), tail in zip(rows_, tails, strict=True):
        cells = [name]
        if before is not None:
            cells.append(_s(b))
        cells.append(_s(a))
        if before is not None:
            cells.append("-" if a is None or b is None else f"{a.min / b.min:.2f}x")
        cells += (
            ["-", "-"] if a is None else [f"{a.min - floor.min:+.2f}", f"{a.min / floor.min:.1f}x"]
        )
        cells.append(_s(tail))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_json(
    args: argparse.Namespace, sides: Sequence[Side], floor: Sample
) -> dict[str, object]:
    return {
        "rows": args.rows,
        "repeats": args.repeats,
        "before": args.before,
        "floor": floor.as_json(),
        "sides": {
            side.label: {
                "total": side.total.as_json(),
                "stages": {name: s.as_json() for name, s in side.stages.items()},
                "tails": {name: s.as_json() for name, s in side.tails.items()},
            }
            for side in sides
        },
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", default=None, help="Also measure this commit, side by side.")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="Keep the work folder.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    progress = Progress()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="reprokit-bench-demo-"))
    refs: Mapping[str, str | None] = {"after": None}
    if args.before:
        refs = {"after": None, "before": args.before}
    sides = [Side(label, work / label, bench_env(work / label, "PASSIVE")) for label in refs]
    floor = Sample()
    try:
        for side in sides:
            set_up(side, args.rows, refs[side.label], progress)
        measure(sides, floor, args.repeats, progress)
    except BenchError as error:
        print(f"bench_demo: {error}", file=sys.stderr)
        return 1
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print(table(sides, floor, args.rows))
    out = save_results(f"demo-{args.rows}", results_json(args, sides, floor))
    progress(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
