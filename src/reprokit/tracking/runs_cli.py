"""`reprokit runs` and `reprokit diff` (registered in reprokit.cli): the recorded runs and
the differences of two, as rich tables.

Kept light at import time (the `reprokit` CLI imports this module): mlflow, rich and the
run store are imported inside the commands.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reprokit.cli_console import console
from reprokit.cli_errors import user_errors
from reprokit.core.names import ENTRY_POINT_TAG, FINGERPRINT_TAG

if TYPE_CHECKING:
    from rich.console import Console

    from reprokit.tracking.compare import Change, RunDiff
    from reprokit.tracking.runs import RecordedRun, RunsListing


def _root() -> Path:
    from reprokit.config.compose import find_project_root

    return find_project_root()


@click.command()
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(min=1))
@user_errors
def runs(limit: int) -> None:
    """List the most recent runs of the configured MLflow experiment."""
    from reprokit.tracking.runs import list_runs

    render_runs(list_runs(_root(), limit), console())


@click.command()
@click.argument("run_a")
@click.argument("run_b")
@user_errors
def diff(run_a: str, run_b: str) -> None:
    """Compare two runs: config keys, data hashes, code/lock hashes, metrics (b - a)."""
    from reprokit.tracking.compare import diff_runs

    with tempfile.TemporaryDirectory(prefix="reprokit-diff-") as scratch:
        render_diff(diff_runs(_root(), run_a, run_b, Path(scratch)), console())


def key_metric_names(runs: Iterable[RecordedRun]) -> list[str]:
    """The metrics of the runs' tasks that at least one run has, in the task's order."""
    from reprokit.config.models import METRICS_BY_TASK

    runs = list(runs)
    present = {name for run in runs for name in run.metrics}
    names: list[str] = []
    for run in runs:
        for name in METRICS_BY_TASK.get(run.params.get("data.task", ""), ()):
            if name in present and name not in names:
                names.append(name)
    return names


def show_number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.6g}" if signed else f"{value:.6g}"


def started_at(run: RecordedRun) -> str:
    if run.start_time_ms is None:
        return "-"
    moment = datetime.fromtimestamp(run.start_time_ms / 1000).astimezone()
    return moment.strftime("%m-%d %H:%M")


def cost_cells(metrics: Mapping[str, float]) -> tuple[str, str]:
    """The run's total cost as two cells, "CPU s / wall s" and peak MiB ("-": not recorded,
    e.g. a run of an older reprokit)."""
    from reprokit.core.cost import run_cost

    cost = run_cost(metrics)
    if cost is None:
        return "-", "-"
    return f"{cost.cpu_s:.1f} / {cost.wall_s:.1f}", f"{cost.peak_rss_mb:.0f}"


def render_runs(listing: RunsListing, out: Console) -> None:
    from rich.table import Table

    from reprokit.tracking.runs import SHORT_ID

    if not listing.runs:
        out.print(f"no runs in experiment {listing.experiment!r} of {listing.tracking_uri}")
        return
    # The columns before the metrics take ~82 of a 100-column terminal (+ ~24 for the cost);
    # each metric ~9 more.
    metrics = key_metric_names(listing.runs)[: max(1, (out.width - 106) // 9)]
    table = Table(
        title=f"runs of experiment {listing.experiment!r} (newest first)",
        caption="run ids shortened: every command takes a unique prefix; cpu / wall s and "
        "peak MiB: what the run's stages cost (README: What a run costs)",
    )
    table.add_column("run id", no_wrap=True)
    for column in ("started", "status", "entry point", "fingerprint"):
        table.add_column(column, no_wrap=True)
    table.add_column("cpu / wall s", justify="right", no_wrap=True)
    table.add_column("peak MiB", justify="right")
    for name in metrics:
        table.add_column(name, justify="right")
    table.add_column("model version")
    for run in listing.runs:
        table.add_row(
            run.run_id[:SHORT_ID],
            started_at(run),
            run.status,
            run.tag(ENTRY_POINT_TAG) or "-",
            (run.tag(FINGERPRINT_TAG) or "-")[:SHORT_ID],
            *cost_cells(run.metrics),
            *(show_number(run.metrics.get(name)) for name in metrics),
            listing.model_versions.get(run.run_id, "-"),
        )
    out.print(table)


def _changes_table(title: str, changes: list[Change], run_a: str, run_b: str) -> Any:
    from rich.table import Table

    from reprokit.tracking.compare import show_value

    table = Table(title=title)
    table.add_column("key")
    table.add_column(f"a: {run_a[:12]}", overflow="fold")
    table.add_column(f"b: {run_b[:12]}", overflow="fold")
    table.add_column("same?")
    for change in changes:
        same = "yes" if change.same else "NO"
        table.add_row(change.key, show_value(change.a), show_value(change.b), same)
    return table


def render_diff(diff: RunDiff, out: Console) -> None:
    from rich.table import Table

    a, b = diff.run_a.run_id, diff.run_b.run_id
    out.print(f"a = {a}\nb = {b}")
    if diff.config:
        out.print(_changes_table("config: keys that differ", diff.config, a, b))
    else:
        out.print("config: identical composed configs")
    out.print(_changes_table("data (DVC md5 of each input)", diff.data, a, b))
    out.print(_changes_table("code, lock and result hashes", diff.hashes, a, b))
    if diff.environment:
        title = "environment: what differs of the machines (can change bytes)"
        out.print(_changes_table(title, diff.environment, a, b))
    else:
        out.print("environment: the same recorded CPU, SIMD level, BLAS, libc and versions")
    table = Table(title="metrics (delta = b - a)")
    for column in ("metric", "a", "b", "delta"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for metric in diff.metrics:
        table.add_row(
            metric.name,
            show_number(metric.a),
            show_number(metric.b),
            show_number(metric.delta, signed=True),
        )
    out.print(table)
