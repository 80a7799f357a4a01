"""`reprokit retrain`: thin; the loop is reprokit.retrain.loop. Kept light at import time
(the `reprokit` CLI imports this module)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from reprokit.cli_errors import user_errors
from reprokit.monitoring.cli import current_option


@click.command()
@current_option(
    "The new labelled batch (Parquet or CSV, the training schema's columns, target included)."
)
@click.option(
    "--if-drift",
    is_flag=True,
    help="Retrain only when the drift report against the champion raises an alarm.",
)
@click.option(
    "--mode",
    type=click.Choice(["append", "replace"]),
    default=None,
    help="Append the batch to the raw data or replace it (default: tracking.retrain.mode).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decision record as JSON.")
@user_errors
def retrain(current: Path, if_drift: bool, mode: str | None, as_json: bool) -> None:
    """Retrain on a new labelled batch; the gate and promotion rule decide.

    Checks the batch, reports its drift against the champion, appends it to (or replaces)
    the raw data, runs `dvc repro`, and records every decision on the MLflow run (tags
    rk.retrain.*, artifact retrain/decision.json).

    Exit 0: decided (promoted or kept); 1: the pipeline failed (raw data restored); 2: the
    batch cannot be used (nothing written)."""
    from reprokit.config.compose import find_project_root, workspace_from_params_file
    from reprokit.retrain.loop import Request
    from reprokit.retrain.loop import retrain as run_loop

    workspace = workspace_from_params_file(find_project_root())
    request = Request(current=current, if_drift=if_drift, mode=mode)  # type: ignore[arg-type]
    say = (lambda _text: None) if as_json else click.echo
    record = run_loop(workspace, request, say)
    if as_json:
        click.echo(json.dumps(record, indent=2, sort_keys=True))
