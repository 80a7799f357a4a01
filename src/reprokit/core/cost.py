"""What a stage costs: the wall time, CPU seconds and peak memory of the process that ran it.

A cost is a measurement, never a result: it differs on every run. So it lives only in the
stage records (`.reprokit/records/`, read by the `track` stage, never a DVC out) and in the
run's `cost.*` MLflow metrics, which no content key, fingerprint, reproduce verdict or run
comparison reads (`reprokit.core.names.is_result_metric`).

What the numbers cover:
- CPU seconds: user + system time of the process (every thread: LightGBM's OpenMP threads
  count) and of the child processes it waited for (`resource.getrusage`).
- Wall and CPU are counted from the *process's start* for the first execution a process
  measures (a DVC stage's interpreter start-up and imports are part of what it costs), and
  from the meter's start for later ones in the same process (the jobs of an in-process sweep).
- Peak RSS: the largest resident set of the process, or of its largest child, so far. The
  kernel keeps no window, so a later execution in the same process reports the process's peak.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit.core.names import (
    COST_CPU,
    COST_FIELDS,
    COST_PEAK_RSS,
    COST_PREFIX,
    COST_WALL,
    cost_metric,
)

# ru_maxrss is in KiB on Linux and in bytes on macOS.
_MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024
_MIB = 1024 * 1024
# Whether an execution in this process already measured from the process's start (see
# `CostMeter.begin`): a process's start-up is paid once, by its first execution.
_PROCESS_CLAIMED: dict[str, bool] = {"start": False}


@dataclass(frozen=True)
class Usage:
    """One reading of a process's counters; `wall` is on the monotonic clock."""

    wall: float
    cpu: float
    peak_rss_bytes: int


@dataclass(frozen=True)
class StageCost:
    """What one stage (or one in-process execution) cost."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float

    def as_dict(self) -> dict[str, float]:
        return {COST_WALL: self.wall_s, COST_CPU: self.cpu_s, COST_PEAK_RSS: self.peak_rss_mb}


def cost_between(start: Usage, end: Usage) -> StageCost:
    """The cost from `start` to `end` (peak: the peak at `end`, see the module docstring)."""
    return StageCost(
        wall_s=round(max(0.0, end.wall - start.wall), 3),
        cpu_s=round(max(0.0, end.cpu - start.cpu), 3),
        peak_rss_mb=round(end.peak_rss_bytes / _MIB, 1),
    )


def process_age(stat: str, uptime: str, ticks_per_second: int) -> float | None:
    """Seconds since the process started, from /proc/self/stat and /proc/uptime (None: not
    readable). `starttime` is field 22, counted after the command name's closing paren,
    which may itself hold spaces or parens."""
    try:
        fields = stat[stat.rindex(")") + 2 :].split()
        started = int(fields[19]) / ticks_per_second
        return max(0.0, float(uptime.split(maxsplit=1)[0]) - started)
    except (ValueError, IndexError):
        return None


def _process_age() -> float | None:
    try:
        stat = Path("/proc/self/stat").read_text(encoding="ascii")
        uptime = Path("/proc/uptime").read_text(encoding="ascii")
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    return process_age(stat, uptime, ticks)


def read_usage() -> Usage:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Usage(
        wall=time.monotonic(),
        cpu=own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
        peak_rss_bytes=max(own.ru_maxrss, children.ru_maxrss) * _MAXRSS_BYTES,
    )


def process_start() -> Usage | None:
    """The counters as they were when this process started (None: its age is unknown)."""
    age = _process_age()
    return None if age is None else Usage(wall=time.monotonic() - age, cpu=0.0, peak_rss_bytes=0)


class CostMeter:
    """Measures one execution: `begin()` when it starts, `cost()` when it ends."""

    def __init__(self, start: Usage) -> None:
        self._start = start

    @classmethod
    def begin(cls) -> CostMeter:
        """From the process's start when no execution of this process measured before,
        else (or when the start is unknown) from now."""
        start = None if _PROCESS_CLAIMED["start"] else process_start()
        _PROCESS_CLAIMED["start"] = True
        return cls(start or read_usage())

    def cost(self) -> StageCost:
        return cost_between(self._start, read_usage())


def unattributed_process_cost() -> StageCost | None:
    """This process's cost so far when no execution in it was measured (None otherwise):
    what the `track` stage's own process cost up to logging the run."""
    if _PROCESS_CLAIMED["start"]:
        return None
    start = process_start()
    return None if start is None else cost_between(start, read_usage())


# --- records and metrics (pure) --------------------------------------------------------------


def cost_from_dict(value: Any) -> StageCost | None:
    """A record's `cost` entry (None: absent or not a cost, e.g. a record of an older
    reprokit: records are diagnostics, a missing cost is not an error)."""
    if not isinstance(value, Mapping):
        return None
    try:
        return StageCost(
            wall_s=float(value[COST_WALL]),
            cpu_s=float(value[COST_CPU]),
            peak_rss_mb=float(value[COST_PEAK_RSS]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def record_costs(records: Mapping[str, Mapping[str, Any]]) -> dict[str, StageCost]:
    """Stage name -> cost, for the stage records that carry one."""
    costs = {stage: cost_from_dict(record.get("cost")) for stage, record in records.items()}
    return {stage: cost for stage, cost in costs.items() if cost is not None}


def total_cost(costs: Iterable[StageCost]) -> StageCost | None:
    """CPU and wall add up (DVC runs the stages one after another); memory is the peak of
    the largest stage, not a sum (each stage is its own process)."""
    costs = list(costs)
    if not costs:
        return None
    return StageCost(
        wall_s=round(sum(c.wall_s for c in costs), 3),
        cpu_s=round(sum(c.cpu_s for c in costs), 3),
        peak_rss_mb=max(c.peak_rss_mb for c in costs),
    )


def cost_metrics(costs: Mapping[str, StageCost]) -> dict[str, float]:
    """`cost.<stage>.<field>` per stage and `cost.<field>` for the whole run."""
    metrics = {
        cost_metric(name, stage): value
        for stage, cost in costs.items()
        for name, value in cost.as_dict().items()
    }
    total = total_cost(costs.values())
    if total is not None:
        metrics.update({cost_metric(name): value for name, value in total.as_dict().items()})
    return metrics


def run_cost(metrics: Mapping[str, float], stage: str | None = None) -> StageCost | None:
    """A run's recorded cost (of one stage, or the total) read back from its metrics."""
    return cost_from_dict({name: metrics.get(cost_metric(name, stage)) for name in COST_FIELDS})


def stage_costs(metrics: Mapping[str, float]) -> dict[str, StageCost]:
    """Every stage's recorded cost in a run's metrics, by stage name, in name order."""
    suffix = f".{COST_CPU}"
    stages = [
        name[len(COST_PREFIX) : -len(suffix)]
        for name in sorted(metrics)
        if name.startswith(COST_PREFIX) and name.endswith(suffix)
    ]
    costs = {stage: run_cost(metrics, stage) for stage in stages}
    return {stage: cost for stage, cost in costs.items() if cost is not None}


def cost_table(costs: Mapping[str, StageCost]) -> list[str]:
    """Plain-text rows: stage, CPU s, wall s, CPU/wall (cores busy on average), peak MiB."""
    lines = [f"  {'stage':<12}{'cpu s':>9}{'wall s':>9}{'cpu/wall':>9}{'peak MiB':>10}"]
    total = total_cost(costs.values())
    for stage, cost in [*costs.items(), *([("total", total)] if total else [])]:
        busy = cost.cpu_s / cost.wall_s if cost.wall_s > 0 else 0.0
        lines.append(
            f"  {stage:<12}{cost.cpu_s:9.2f}{cost.wall_s:9.2f}{busy:9.2f}{cost.peak_rss_mb:10.0f}"
        )
    return lines
