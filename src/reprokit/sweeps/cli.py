"""`reprokit sweeps show` and `reprokit tune` (registered in reprokit.cli)."""

from __future__ import annotations

from pathlib import Path

import click

from reprokit.cli_console import console
from reprokit.cli_errors import user_errors
from reprokit.cli_help import SummaryGroup
from reprokit.project_lock import writes_project


def _root() -> Path:
    from reprokit.config.compose import find_project_root

    return find_project_root()


@click.group(cls=SummaryGroup)
def sweeps() -> None:
    """Sweeps recorded in MLflow (`reprokit run -m`, `reprokit tune`)."""


@sweeps.command("show")
@click.argument("sweep")
@user_errors
def sweeps_show(sweep: str) -> None:
    """The summary of SWEEP (sweep id or parent run id): overrides, metrics, best first."""
    from reprokit.sweeps.summary import render
    from reprokit.sweeps.track import runs_of_sweep

    parent, rows, ranking, sweep_id = runs_of_sweep(_root(), sweep)
    out = console()
    render(rows, ranking, out, f"sweep {sweep_id} (parent run {parent.info.run_id})")


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--trials", "-n", default=20, show_default=True, type=click.IntRange(min=1), help="Budget."
)
@click.option("--study-name", default=None, help="Default: derived from the search space.")
@click.option(
    "--storage",
    default=None,
    help="Optuna RDB storage URL (default: sqlite:///.reprokit/optuna.db in the project).",
)
@click.option(
    "--pipeline",
    "-p",
    "pipelines",
    multiple=True,
    help="Run only these declared pipelines (default: all).",
)
@click.option(
    "--pruner",
    type=click.Choice(["median", "none"]),
    default="median",
    show_default=True,
    help="Stop trials whose validation score per iteration falls behind the median of the "
    "earlier trials' (Optuna MedianPruner, after 3 trials and 10 iterations).",
)
@user_errors
@writes_project
def tune(
    *,
    overrides: tuple[str, ...],
    trials: int,
    study_name: str | None,
    storage: str | None,
    pipelines: tuple[str, ...],
    pruner: str,
) -> None:
    """Bayesian search (Optuna TPE) over the search space in OVERRIDES.

    OVERRIDES such as model.num_leaves='int(range(8,128))'
    model.learning_rate='tag(log,interval(0.01,0.3))' model.max_depth='choice(-1,6,12)'.
    Plain overrides (key=value) apply to every trial. An interrupted search resumes with the
    same study name and storage; --trials is the study's total."""
    from reprokit.sweeps.tune import run_tune

    run_tune(
        _root(),
        list(overrides),
        trials=trials,
        study_name=study_name,
        storage=storage,
        pipelines=list(pipelines or ("__default__",)),
        say=click.echo,
        out=console(),
        pruner=pruner,
    )
