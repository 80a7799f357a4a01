"""`reprokit monitor` (drift, data quality and delayed-label performance of a batch against
the serving model's training reference) and `reprokit data generate` (demo batches, with or
without drift).

Exit codes of `monitor`: 0 no alarm; 1 an alarm (drift, a data-quality finding or degraded
performance), so a scheduler or CI can act on it; 2 the batch cannot be checked (missing
file or columns, wrong types, zero rows, no reference profile).

Kept light at import time (the `reprokit` CLI imports this module).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from reprokit.cli_errors import user_errors
from reprokit.errors import DataError


class MonitorInputError(DataError):
    """The current data cannot be monitored: exit 2, distinct from exit 1 (an alarm)."""

    exit_code = 2


def read_current(path: Path, read: Any = None) -> Any:
    """The batch, read as the training data is: with `data.read` (reprokit.io.read_table)."""
    from reprokit.io import read_table

    try:
        return read_table(path, read)
    except DataError as error:
        raise MonitorInputError(str(error)) from None


def _render(summary: dict[str, Any], paths: list[Path], logged_to: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"monitoring: {summary['rows']} rows vs {summary['reference']['source']}")
    for header in ("column", "PSI", "test", "stat", "p", "nulls ref->cur", "drift"):
        table.add_column(header, justify="left" if header == "column" else "right")
    for column in [summary["prediction"], *summary["columns"]]:
        table.add_row(
            column["name"],
            f"{column['psi']:.3f}",
            column["test"],
            f"{column['statistic']:.3g}",
            f"{column['p_value']:.2g}",
            f"{column['null_rate_reference']:.1%}->{column['null_rate_current']:.1%}",
            "[red]DRIFT[/red]" if column["drifted"] else "ok",
        )
    console.print(table)
    for check in summary["performance"]["checks"]:
        verdict = "[red]DEGRADED[/red]" if check["degraded"] else "ok"
        console.print(
            f"{check['metric']}: {check['current']:.4f} vs reference {check['reference']:.4f} "
            f"({summary['performance']['labelled_rows']} labelled rows) {verdict}"
        )
    for finding in summary["findings"]:
        marker = "[red]![/red]" if finding["severity"] == "alarm" else "-"
        console.print(f"{marker} {finding['check']}: {finding['message']}", markup=True)
    console.print(f"report: {paths[0]}  summary: {paths[1]}")
    if logged_to:
        console.print(f"logged to MLflow run {logged_to} (artifacts monitoring/)")
    status = summary["status"]
    colour = "red" if status == "alarm" else "green"
    console.print(
        f"[{colour}]{status.upper()}[/{colour}]: " + ("; ".join(summary["alarms"]) or "no alarm")
    )


@click.command()
@click.option(
    "--current",
    "current",
    required=True,
    type=click.Path(path_type=Path),
    help="The batch to check (Parquet or CSV, the training schema's columns).",
)
@click.option("--labels", default=None, help="Column with the true labels: compare performance.")
@click.option(
    "--reference",
    "reference",
    default=None,
    type=click.Path(path_type=Path),
    help="A reference profile JSON (default: the serving model's).",
)
@click.option("--run", "run_id", default=None, help="Use the profile of this MLflow run.")
@click.option(
    "--output-dir",
    default=None,
    type=click.Path(path_type=Path),
    help="Where the report goes (default: data/08_reporting/monitoring).",
)
@user_errors
def monitor(
    current: Path,
    labels: str | None,
    reference: Path | None,
    run_id: str | None,
    output_dir: Path | None,
) -> None:
    """Check a batch against the training reference: drift, data quality, performance.

    Performance needs --labels. Exit 0: no alarm; 1: alarm; 2: the batch cannot be checked."""
    from reprokit.config.compose import find_project_root, workspace_from_params_file
    from reprokit.monitoring.analysis import (
        analyse,
        check_structure,
        given_predictions,
        score,
        summary,
    )
    from reprokit.monitoring.reference import ReferenceError, log_report, resolve_reference
    from reprokit.monitoring.report import REPORT_DIR, render_html, report_paths, write_report

    if reference is not None and run_id is not None:
        raise click.UsageError("pass --reference or --run, not both")
    root = find_project_root()
    workspace = workspace_from_params_file(root)
    config = workspace.config.monitoring
    ref = resolve_reference(workspace, reference, run_id)
    profile = ref.profile
    frame = read_current(current, workspace.config.data.read)
    try:
        check_structure(frame, profile, labels)
        raw = given_predictions(frame, profile)
        scored_by = "file"
        if raw is None:
            if ref.model is None or ref.state is None:
                raise ReferenceError(
                    f"{current} has no prediction column {profile.task!r} output and the model "
                    f"of the reference ({ref.source}) is not available to score it"
                )
            raw, scored_by = score(frame, ref.model, ref.state), "model"
        analysis = analyse(frame, profile, config, raw, labels=labels, scored_by=scored_by)
    except MonitorInputError:
        raise
    except DataError as error:
        raise MonitorInputError(str(error)) from None
    document = summary(analysis, profile, config, ref.describe())
    html = render_html(document, analysis.columns, analysis.prediction)
    directory = output_dir or root / REPORT_DIR
    paths = write_report(report_paths(directory, analysis.created), document, html)
    logged = log_report(workspace, ref.run_id, [paths.html, paths.json], analysis.status)
    _render(document, [paths.html, paths.json], ref.run_id if logged else None)
    sys.exit(1 if analysis.status == "alarm" else 0)


@click.command("generate")
@click.option("--rows", default=10_000, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--seed",
    default=8,
    show_default=True,
    type=click.IntRange(min=0),
    help="Another seed than data.source.seed gives a fresh sample of the same world.",
)
@click.option(
    "--drift",
    is_flag=True,
    help="Shift incomes and loans, add a new purpose, "
    "weaken the features' link to the default (reprokit.datagen.credit.CreditDrift).",
)
@click.option("--output", required=True, type=click.Path(path_type=Path))
@user_errors
def generate(rows: int, seed: int, drift: bool, output: Path) -> None:
    """Write a batch of the synthetic credit data (a demo batch to monitor)."""
    from reprokit.datagen.credit import drift_credit, iter_credit_blocks
    from reprokit.datagen.writer import write_table

    blocks = iter_credit_blocks(0, rows, seed)
    chunks = (drift_credit(block, seed) for block in blocks) if drift else blocks
    try:
        written = write_table(output, chunks, total_rows=rows, description=f"credit {output.name}")
    except ValueError as error:
        raise MonitorInputError(str(error)) from None
    click.echo(f"wrote {written} rows{' (drifted)' if drift else ''} to {output}")
