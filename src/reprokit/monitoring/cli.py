"""`reprokit monitor` (drift, data quality and delayed-label performance of a batch against
the serving model's training reference) and `reprokit data generate` (demo batches, with or
without drift).

Exit codes of `monitor`: 0 every Evidently test passed; 1 a test failed (drift, a
data-quality test or degraded performance), so a scheduler or CI can act on it; 2 the batch
cannot be checked (missing file or columns, wrong types, zero rows, no reference profile or
sample).

Kept light at import time (the `reprokit` CLI imports this module).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reprokit.cli_errors import user_errors
from reprokit.errors import DataError

if TYPE_CHECKING:
    from reprokit.config.compose import Workspace
    from reprokit.monitoring.report import ReportPaths


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


# A boolean column's reference profile: categorical, its categories the two booleans.
BOOLEAN_CATEGORIES = ["False", "True"]


def boolean_columns(profile: Any) -> list[str]:
    """The profile's columns that were booleans in the training data."""
    return [
        name
        for name, column in profile.columns.items()
        if getattr(column, "categories", None) == BOOLEAN_CATEGORIES
    ]


def _render(summary: dict[str, Any], paths: ReportPaths, logged_to: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"monitoring: {summary['rows']} rows vs {summary['reference']['title']}")
    for header in ("column", "test", "score", "threshold", "drift"):
        table.add_column(header, justify="left" if header == "column" else "right")
    for column in summary["columns"]:
        table.add_row(
            column["column"],
            column["method"],
            f"{column['score']:.3g}",
            f"{column['threshold']:.3g}",
            "[red]DRIFT[/red]" if column["drifted"] else "ok",
        )
    console.print(table)
    for alarm in summary["alarms"]:
        console.print(f"[red]![/red] {alarm}", markup=True, highlight=False)
    console.print(f"report: {paths.html}  Evidently JSON: {paths.json}  summary: {paths.summary}")
    if logged_to:
        console.print(f"logged to MLflow run {logged_to} (artifacts monitoring/)")
    status = summary["status"]
    colour = "red" if status == "alarm" else "green"
    failed = len(summary["alarms"])
    console.print(
        f"[{colour}]{status.upper()}[/{colour}]: {summary['tests'] - failed}/{summary['tests']} "
        "Evidently tests passed"
        + (f"; drifted: {', '.join(summary['drifted'])}" if summary["drifted"] else "")
    )


def current_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--current FILE`, the batch a command reads (monitor, retrain)."""
    return click.option(
        "--current", "current", required=True, type=click.Path(path_type=Path), help=help_text
    )


@click.command()
@current_option("The batch to check (Parquet or CSV, the training schema's columns).")
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

    if reference is not None and run_id is not None:
        raise click.UsageError("pass --reference or --run, not both")
    root = find_project_root()
    workspace = workspace_from_params_file(root)
    frame = read_current(current, workspace.config.data.read)
    checked = check_batch(
        workspace,
        current,
        frame,
        labels=labels,
        reference=reference,
        run_id=run_id,
        output_dir=output_dir,
    )
    _render(checked.summary, checked.paths, checked.logged_to)
    sys.exit(1 if checked.status == "alarm" else 0)


@dataclass(frozen=True)
class BatchCheck:
    """What one check of a batch found and wrote (`reprokit monitor`, `reprokit retrain`)."""

    status: str
    summary: dict[str, Any]
    paths: ReportPaths
    # The MLflow run the report was logged to (the reference's), if any.
    logged_to: str | None


def check_batch(
    workspace: Workspace,
    current: Path,
    frame: Any,
    *,
    labels: str | None = None,
    reference: Path | None = None,
    run_id: str | None = None,
    output_dir: Path | None = None,
) -> BatchCheck:
    """Evidently's report and tests of `frame` (read from `current`) against the reference,
    written to the report folder and logged to the reference's run.

    Raises:
        MonitorInputError: The batch cannot be checked (exit 2).
        ReferenceError: No usable reference profile or model.
    """
    from reprokit.io.read import check_booleans
    from reprokit.monitoring.analysis import check_structure, given_predictions, score
    from reprokit.monitoring.evidently_report import current_table, run_report, verdict
    from reprokit.monitoring.reference import ReferenceError, log_report, resolve_reference
    from reprokit.monitoring.report import REPORT_DIR, report_paths, summary, write_report

    ref = resolve_reference(workspace, reference, run_id)
    profile = ref.profile
    try:
        # The profile says which columns were booleans: an undeclared spelling is named.
        check_booleans(frame, boolean_columns(profile), workspace.config.data.read, current)
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
        table = current_table(frame, profile, raw, labels)
    except MonitorInputError:
        raise
    except DataError as error:
        raise MonitorInputError(str(error)) from None
    created = datetime.now(UTC).isoformat(timespec="seconds")
    snapshot = run_report(table, ref.sample, profile, workspace.config.monitoring)
    result = verdict(snapshot.dict())
    document = summary(result, ref, created=created, rows=len(frame), scored_by=scored_by)
    directory = output_dir or workspace.root / REPORT_DIR
    paths = write_report(report_paths(directory, created), snapshot, document)
    logged = log_report(workspace, ref.run_id, list(paths), result.status)
    return BatchCheck(result.status, document, paths, ref.run_id if logged else None)


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
