"""The `reprokit` command: parses arguments and delegates; heavy imports happen per command."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from reprokit.cli_console import console
from reprokit.cli_errors import user_errors
from reprokit.cli_exit import QuickExitGroup, exits_quickly
from reprokit.cli_help import CONTEXT_SETTINGS
from reprokit.core.env import disable_telemetry
from reprokit.feature_store.cli import features
from reprokit.monitoring.cli import generate as generate_data_command
from reprokit.monitoring.cli import monitor as monitor_command
from reprokit.ops.ci_cli import ci, output_option
from reprokit.project_lock import writes_project
from reprokit.retrain.cli import retrain as retrain_command
from reprokit.sweeps.cli import sweeps, tune
from reprokit.tracking.registry_cli import models, promote
from reprokit.tracking.runs_cli import diff, runs


def _root() -> Path:
    from reprokit.config.compose import find_project_root

    return find_project_root()


@click.group(cls=QuickExitGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="reprokit", message="%(prog)s %(version)s")
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    default=None,
    help="Log as console text or JSON lines (env REPROKIT_LOG_FORMAT).",
)
def main(log_format: str | None) -> None:
    """reprokit: one Hydra config drives Kedro pipelines and generated DVC stages."""
    disable_telemetry()
    from reprokit.logs import configure_logging

    configure_logging(log_format)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--pipeline",
    "-p",
    "pipelines",
    multiple=True,
    help="Run only these declared pipelines (default: all).",
)
@click.option(
    "--multirun",
    "-m",
    is_flag=True,
    help="A sweep: Hydra sweep syntax (a=1,2 b=range(1,4) model=glob(*)), one job per point; "
    "`hydra/launcher=joblib hydra.launcher.n_jobs=N` runs jobs in parallel, "
    "`hydra/launcher=dask [hydra.launcher.address=tcp://host:8786]` on a Dask cluster.",
)
@user_errors
@writes_project
def run(overrides: tuple[str, ...], pipelines: tuple[str, ...], multirun: bool) -> None:
    """Run the pipelines in-process on conf/ composed with Hydra OVERRIDES.

    Example: `reprokit run model.num_leaves=63`.
    """
    if multirun:
        from reprokit.sweeps.multirun import run_sweep

        pipeline_names = list(pipelines or ("__default__",))
        run_sweep(_root(), overrides, pipeline_names, say=click.echo, out=console())
        return
    from reprokit.cli_summary import render_run_summary, this_run, written_files
    from reprokit.config.compose import workspace_from_conf
    from reprokit.core.fs import restored_on_failure
    from reprokit.datagen.prepare import ensure_source
    from reprokit.errors import QualityGateError
    from reprokit.execution import run_tracked
    from reprokit.layout import read_last_run
    from reprokit.pipeline.spec import build_pipelines
    from reprokit.runner import DEFAULT_PIPELINE

    workspace = workspace_from_conf(_root(), overrides)
    config = workspace.config
    # A broken pipeline spec fails here, before any data is written.
    build_pipelines(config.pipeline, workspace.params, config.catalog)
    data = config.data
    _as_data_error(
        lambda: ensure_source(data.source.model_dump(), data.path, workspace.root),
        data.source.kind,
    )
    chosen = list(pipelines or (DEFAULT_PIPELINE,))
    before = read_last_run(workspace.root)
    outputs = written_files(config, workspace.root, chosen)
    # A failing node must not leave the outputs of the nodes before it as a new result. A
    # model its quality gate refused stays (as DVC keeps a failed stage's outputs in the
    # workspace): the run names it, and `reprokit package` refuses it by that run and gate.
    kept_on = (QualityGateError,)
    with restored_on_failure([workspace.root / path for path in outputs], keep_on=kept_on):
        run_tracked(workspace, chosen, entry_point="reprokit run")
    primary_metric, _ = config.tracking.promotion.resolved(config.data.task)
    summary = render_run_summary(
        this_run(before, read_last_run(workspace.root)),
        primary_metric=primary_metric,
        outputs=outputs,
    )
    click.echo("\n".join(summary))


@main.command()
@click.argument("name")
@exits_quickly
@user_errors
@writes_project
def stage(name: str) -> None:
    """Run the declared pipeline NAME from params.yaml (the command of DVC stage NAME)."""
    from reprokit.config.compose import workspace_from_params_file
    from reprokit.dvcgen.freshness import check_dvc_yaml_fresh
    from reprokit.execution import run_stage
    from reprokit.input_guard import snapshot, stage_inputs

    root = _root()
    # Hashed before anything reads them: what the stage will read, verified when it is done.
    inputs = snapshot(root, stage_inputs(root, name))
    workspace = workspace_from_params_file(root)
    # A stale dvc.yaml would make DVC track the wrong files for this run: refuse early.
    check_dvc_yaml_fresh(workspace.config, workspace.root)
    run_stage(workspace, name, inputs)


@main.command()
@exits_quickly
@user_errors
@writes_project
def track() -> None:
    """Record the execution DVC just ran as one MLflow run (the `track` stage)."""
    from reprokit.config.compose import workspace_from_params_file
    from reprokit.dvcgen.generate import TRACK_STAGE
    from reprokit.input_guard import (
        snapshot,
        stage_inputs,
        verify_recorded_inputs,
        verify_unchanged,
    )
    from reprokit.layout import RECORDS_DIR
    from reprokit.tracking.recorder import read_records
    from reprokit.tracking.session import track_dvc_execution

    root = _root()
    inputs = snapshot(root, stage_inputs(root, TRACK_STAGE))
    # Before anything is recorded: the stages' inputs are still what they read.
    verify_recorded_inputs(root, read_records(root / RECORDS_DIR))
    workspace = workspace_from_params_file(root)
    # Checked again once the run is logged, before its model is registered: a changed input
    # ends the run FAILED with nothing registered.
    run_id = track_dvc_execution(
        workspace, before_register=lambda: verify_unchanged(root, inputs, "the track stage")
    )
    click.echo(f"recorded MLflow run {run_id}")


@main.command()
@click.argument("run_id")
@click.option(
    "--at-commit",
    is_flag=True,
    help="Rerun with the code of the run's git commit (a temporary git worktree).",
)
@click.option(
    "--keep-workspace", is_flag=True, help="Keep the temporary workspace and print its path."
)
@user_errors
def reproduce(run_id: str, at_commit: bool, keep_workspace: bool) -> None:
    """Rerun recorded run RUN_ID in an isolated workspace and verify it is identical.

    Exit 0 only when the model file and
    every metric are identical (1: different, 2: cannot reproduce). A sweep's parent run
    reruns and verifies every job of the sweep."""
    from reprokit.reproduce.sweeps import reproduce_any

    identical = reproduce_any(
        _root(),
        run_id,
        at_commit=at_commit,
        keep_workspace=keep_workspace,
        say=click.echo,
        out=console(),
    )
    sys.exit(0 if identical else 1)


# The recorded runs and their differences: src/reprokit/tracking/runs_cli.py.
main.add_command(runs)
main.add_command(diff)


@main.command()
@click.argument("ref")
@click.option(
    "--fingerprint",
    "served_fingerprint",
    default=None,
    help="A served response's x-reprokit-model-fingerprint header: the response's model "
    "must be the stored one (REF: its x-reprokit-model-tag).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the chain as JSON.")
@user_errors
def lineage(ref: str, served_fingerprint: str | None, as_json: bool) -> None:
    """Verify the lineage of REF, from the served model back to config, data and code.

    The chain: BentoML model -> registry version -> MLflow run
    -> fingerprint -> config, data, code and lock hashes -> git commit. REF: a run id, a
    registry version (name/version, models:/name/version) or a BentoML model tag (a served
    response's x-reprokit-model-tag). Exit 0 verified, 1 a link is broken, 2 unknown REF."""
    from reprokit.lineage.render import as_json as lineage_json
    from reprokit.lineage.render import render_lineage
    from reprokit.lineage.trace import trace_project

    result = trace_project(_root(), ref, served_fingerprint)
    if as_json:
        click.echo(lineage_json(result))
    else:
        render_lineage(result, console())
    sys.exit(result.exit_code)


def _as_data_error(action: Callable[[], Any], kind: str) -> Any:
    """The data sources raise ValueError/OSError; the user sees them as data errors."""
    from reprokit.errors import DataError

    try:
        return action()
    except (ValueError, OSError) as error:
        raise DataError(f"data.source ({kind}): {error}") from error


@main.group()
def config() -> None:
    """Compose, check and show the config."""


@config.command("compose")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@user_errors
@writes_project
def config_compose(overrides: tuple[str, ...]) -> None:
    """Write params.yaml from conf/ (+ OVERRIDES), after validating it."""
    from reprokit.config.compose import compose_and_validate, write_params

    composition, _ = compose_and_validate(_root(), overrides)
    click.echo(f"wrote {write_params(composition)}")


@config.command("check")
@exits_quickly
@user_errors
def config_check() -> None:
    """Exit non-zero when params.yaml is stale against conf/ or invalid."""
    from reprokit.config.check_record import check_params_fresh

    check_params_fresh(_root())
    click.echo("params.yaml is up to date with conf/")


@config.command("show")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@user_errors
def config_show(overrides: tuple[str, ...]) -> None:
    """Print the composed, validated config (what params.yaml would hold)."""
    from reprokit.config.compose import compose_and_validate

    composition, _ = compose_and_validate(_root(), overrides)
    click.echo(composition.yaml_text, nl=False)


@main.group()
def dvc() -> None:
    """Generate and check dvc.yaml from the declared pipelines."""


@dvc.command("generate")
@user_errors
@writes_project
def dvc_generate() -> None:
    """Write dvc.yaml: one stage per declared pipeline (from params.yaml)."""
    from reprokit.config.compose import load_config
    from reprokit.datasets import atomic_path
    from reprokit.dvcgen import DVC_FILE, render_dvc_yaml

    root = _root()
    text = render_dvc_yaml(load_config(root), root)
    with atomic_path(root / DVC_FILE) as tmp:
        tmp.write_text(text, encoding="utf-8")
    click.echo(f"wrote {root / DVC_FILE}")


@dvc.command("check")
@click.option(
    "--with-params",
    is_flag=True,
    help="First check params.yaml against conf/ too (`reprokit config check`), in this process.",
)
@exits_quickly
@user_errors
def dvc_check(with_params: bool) -> None:
    """Exit non-zero when dvc.yaml is stale against params.yaml."""
    from reprokit.config.compose import load_config
    from reprokit.dvcgen.freshness import check_dvc_yaml_fresh

    root = _root()
    if with_params:
        # `make repro`'s two checks in one process: a process start-up and the config
        # imports (~0.2 s) are most of each check once both are recorded.
        from reprokit.config.check_record import check_params_fresh

        check_params_fresh(root)
        click.echo("params.yaml is up to date with conf/")
    check_dvc_yaml_fresh(load_config(root), root)
    click.echo("dvc.yaml is up to date with params.yaml")


@dvc.command("plots-page")
@exits_quickly
@user_errors
def dvc_plots_page() -> None:
    """Make `dvc plots show` draw offline: Vega inlined in its page (from the npm registry)."""
    from reprokit.dvcgen.plots_page import use_plots_page, write_plots_page

    root = _root()
    written = write_plots_page(root)
    use_plots_page(root)
    click.echo(f"wrote {written}; `dvc plots show` uses it (.dvc/config.local)")


@main.group()
def ops() -> None:
    """Generate and check the operations files (Prometheus, Grafana, Airflow DAGs)."""


@ops.command("generate")
@user_errors
def ops_generate() -> None:
    """Write ops/ (Prometheus rules, Grafana dashboard, Airflow DAGs) from params.yaml."""
    from reprokit.config.compose import load_config
    from reprokit.ops.generate import write

    root = _root()
    for path in write(load_config(root), root):
        click.echo(f"wrote {path}")


@ops.command("check")
@user_errors
def ops_check() -> None:
    """Exit non-zero when a file under ops/ is stale against params.yaml."""
    from reprokit.config.compose import load_config
    from reprokit.ops.generate import check

    root = _root()
    check(load_config(root), root)
    click.echo("ops/ is up to date with params.yaml")


@main.group()
def deploy() -> None:
    """Generate deployment files for the served model."""


@deploy.command("k8s", context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@output_option("build/k8s", "Directory to write (replaced whole).")
@user_errors
def deploy_k8s(overrides: tuple[str, ...], output: Path) -> None:
    """Write Kubernetes manifests from `serving.deployment` (+ Hydra OVERRIDES).

    Deployment (probes, resources, non-root read-only container, API keys from a Secret),
    Service, NetworkPolicy, HorizontalPodAutoscaler, PodDisruptionBudget and a
    kustomization: `kubectl apply -k DIR`.
    """
    from reprokit.config.compose import workspace_from_conf
    from reprokit.serving.k8s import write_manifests

    config = workspace_from_conf(_root(), overrides).config
    target = output if output.is_absolute() else _root() / output
    click.echo(f"{target}: {', '.join(write_manifests(config, target))}")


@main.group()
def data() -> None:
    """Prepare the raw data a config declares."""


@data.command("prepare")
@exits_quickly
@user_errors
@writes_project
def data_prepare() -> None:
    """Materialise `data.source` at `data.path` (generated or bundled data; checks a file)."""
    from reprokit.config.compose import load_config
    from reprokit.datagen.prepare import ensure_source
    from reprokit.dvcgen.generate import DATA_STAGE
    from reprokit.input_guard import stage_inputs, unchanged_inputs

    root = _root()
    with unchanged_inputs(root, stage_inputs(root, DATA_STAGE), "`reprokit data prepare`"):
        config = load_config(root)
        source = config.data.source.model_dump()
        wrote = _as_data_error(
            lambda: ensure_source(source, config.data.path, root), config.data.source.kind
        )
    click.echo(f"{config.data.path}: {'written' if wrote else 'up to date'}")


# The model registry by hand (champion moves, listing): src/reprokit/tracking/registry_cli.py.
@main.command()
@click.argument("name")
@click.option(
    "--from", "source", required=True, type=click.Path(path_type=Path), help="CSV or Parquet file."
)
@click.option("--target", required=True, help="The column to predict.")
@click.option(
    "--task",
    type=click.Choice(["binary", "multiclass", "regression"]),
    default=None,
    help="Default: inferred from the target (2 values: binary; few: multiclass; floats: "
    "regression).",
)
@click.option("--dry-run", is_flag=True, help="Print the files it would write; write nothing.")
@click.option("--force", is_flag=True, help="Overwrite existing conf/data|experiment/NAME.yaml.")
@user_errors
# click passes each option as a parameter.
def new(  # noqa: PLR0917
    name: str, source: Path, target: str, task: Any, dry_run: bool, force: bool
) -> None:
    """Write conf/data/NAME.yaml and conf/experiment/NAME.yaml for your own file.

    Detects the read options, infers the schema, role columns and task, copies the file to
    data/01_raw/ and tracks it with `dvc add`; then `reprokit run experiment=NAME`."""
    from reprokit.project_lock import project_lock
    from reprokit.scaffold.project import (
        copy_raw_file,
        dvc_add,
        is_dvc_repo,
        plan_new,
        refuse_overwrite,
        write_configs,
    )

    root = _root()
    group_split = (root / "conf/split/group.yaml").is_file()
    plan = plan_new(name, source, target, task, group_split=group_split)
    refuse_overwrite(root, plan, force)
    if dry_run:
        for path, text in plan.files.items():
            click.echo(f"--- {path} (not written: --dry-run)\n{text}")
        tracked = " and track it with `dvc add`" if is_dvc_repo(root) else ""
        click.echo(f"would copy {source} to {plan.raw_path}{tracked}")
        return
    with project_lock(root):
        copied = copy_raw_file(root, plan)
        write_configs(root, plan)
    for done in (copied, *(f"wrote {path}" for path in plan.files), dvc_add(root, plan)):
        if done:
            click.echo(done)
    click.echo(f"next: reprokit run experiment={name}")


main.add_command(promote)
main.add_command(features)
main.add_command(models)


@main.command()
@click.option(
    "--untracked",
    is_flag=True,
    help="Package without a recorded run to vouch for the model (tracking off); the model's "
    "metadata says `untracked`.",
)
@exits_quickly
@user_errors
@writes_project
def package(untracked: bool) -> None:
    """Save the current model, feature state and request schema as a BentoML model.

    Only a model a FINISHED, gate-passing MLflow run of this project produced (found by sha256)."""
    import json

    from reprokit.config.compose import workspace_from_params_file
    from reprokit.datasets import atomic_path
    from reprokit.dvcgen.generate import PACKAGE_MARKER, PACKAGE_STAGE
    from reprokit.input_guard import stage_inputs, unchanged_inputs
    from reprokit.serving.package import package as package_outputs

    root = _root()
    with unchanged_inputs(root, stage_inputs(root, PACKAGE_STAGE), "`reprokit package`"):
        result = package_outputs(workspace_from_params_file(root), untracked=untracked)
    # The DVC stage's output: what was packaged, without BentoML's random version id, so
    # that it is the same file for the same model on every machine.
    marker = {
        "model": result.name,
        "fingerprint": result.fingerprint,
        "model_sha256": result.model_sha256,
    }
    with atomic_path(root / PACKAGE_MARKER) as tmp:
        tmp.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    click.echo(f"{'saved' if result.created else 'already packaged'}: {result.tag}")


@main.command()
@click.option("--input", "source", required=True, type=click.Path(path_type=Path))
@click.option("--output", "target", required=True, type=click.Path(path_type=Path))
@click.option(
    "--model",
    "tag",
    default=None,
    help="BentoML model tag (default: as served: this project's packaged model of its dataset; "
    "env REPROKIT_MODEL_TAG).",
)
@click.option("--max-records", default=1_000_000, show_default=True, type=int)
@user_errors
def predict(source: Path, target: Path, tag: str | None, max_records: int) -> None:
    """Score a CSV/Parquet file with a packaged model (the service's code path)."""
    from reprokit.serving.batch import score_file
    from reprokit.serving.config import load_project_identity, serving_settings
    from reprokit.serving.store import load_packaged, resolve_model_tag

    settings = serving_settings()
    explicit = tag or settings.model_tag
    project = None if explicit else load_project_identity(settings, _root())
    bundle = load_packaged(resolve_model_tag(explicit, project))
    rows = score_file(bundle, source, target, max_records)
    click.echo(f"wrote {rows} predictions to {target} (model {bundle.info.tag})")


# Monitoring (drift, data quality, delayed labels) and demo batches: reprokit/monitoring/cli.py.
main.add_command(monitor_command)
# The retraining loop (batch -> drift -> data -> dvc repro -> decision): reprokit/retrain/.
main.add_command(retrain_command)
data.add_command(generate_data_command)

# The CI workflow's model steps: reprokit/ops/ci_cli.py.
main.add_command(ci)

# Sweeps and Bayesian search (`reprokit run -m` is part of `run`): reprokit/sweeps/cli.py.
main.add_command(sweeps)
main.add_command(tune)

# Kedro imports `<package>.cli.cli` for project-specific `kedro` subcommands. reprokit adds
# none (its commands live under `reprokit`), so `kedro run` stays Kedro's own.
cli = click.Group(name="reprokit-kedro", help="reprokit adds no kedro subcommands.")
