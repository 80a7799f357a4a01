"""Read recorded runs and compare them: `reprokit runs`, `reprokit diff`, and the checks
`reprokit reproduce` makes on a run before it reruns anything.

Everything here reads the store through `MlflowClient` (`store.connect`, imported lazily:
importing mlflow costs seconds) and never writes to it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from reprokit.config.models import METRICS_BY_TASK, ReprokitConfig
from reprokit.core.names import TAG_PREFIX
from reprokit.errors import ReprokitError
from reprokit.lineage.environment import environment_changes, recorded_environment

if TYPE_CHECKING:
    from rich.console import Console

TAG = TAG_PREFIX
DATA_TAG = f"{TAG}data."
COMPOSED_CONFIG = "composed_config.yaml"
# `time.<stage>_s` metrics are wall-clock durations: never part of a result.
TIMING_PREFIX = "time."
DEFAULT_LIMIT = 20
# Piped output (tests, `| grep`, `| less`) gets a wide virtual terminal so that ids and
# hashes are never wrapped or cut; a real terminal keeps its own width.
PIPE_WIDTH = 240


class RunError(ReprokitError):
    """A recorded run cannot be used: unknown, not reprokit's, another project's, incomplete."""

    exit_code = 2


class StoreNotFoundError(RunError):
    """The configured tracking store does not exist (yet)."""


class RunNotFoundError(RunError):
    """No run with this id in the tracking store."""


class NotAReprokitRunError(RunError):
    """The run exists but was not recorded by reprokit (no `reprokit.*` identity tags)."""


class ForeignRunError(RunError):
    """The run was recorded by another project (tag `reprokit.project` differs)."""


class MissingArtifactError(RunError):
    """An artifact the run should hold is not in the artifact store."""


class CorruptArtifactError(RunError):
    """An artifact's content disagrees with what the run recorded about it."""


class _Absent:
    """A key one side of a comparison lacks (distinct from a YAML `null`)."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()


# --- reading runs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRun:
    """The parts of an MLflow run that reprokit reads, as plain data."""

    run_id: str
    status: str
    start_time_ms: int | None
    tags: Mapping[str, str]
    metrics: Mapping[str, float]
    params: Mapping[str, str]

    def tag(self, name: str) -> str | None:
        return self.tags.get(TAG + name)

    @property
    def data_hashes(self) -> dict[str, str]:
        return {
            k[len(DATA_TAG) :]: v for k, v in sorted(self.tags.items()) if k.startswith(DATA_TAG)
        }

    @property
    def environment(self) -> dict[str, str]:
        """What the run recorded of the machine that could change bytes (`env.*` tags)."""
        return recorded_environment(self.tags, TAG)

    @property
    def result_metrics(self) -> dict[str, float]:
        return {k: v for k, v in self.metrics.items() if not k.startswith(TIMING_PREFIX)}

    @property
    def is_reprokit_run(self) -> bool:
        return self.tag("fingerprint") is not None and self.tag("project") is not None


def recorded_run(run: Any) -> RecordedRun:
    """An MLflow `Run` entity as a `RecordedRun`."""
    return RecordedRun(
        run_id=str(run.info.run_id),
        status=str(run.info.status),
        start_time_ms=run.info.start_time,
        tags=dict(run.data.tags),
        metrics=dict(run.data.metrics),
        params=dict(run.data.params),
    )


def missing_sqlite_store(uri: str) -> Path | None:
    """The SQLite file of a `sqlite:///` URI when it does not exist (else None)."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    path = Path(uri[len(prefix) :])
    return None if path.is_file() else path


def open_store(root: Path) -> tuple[Any, ReprokitConfig]:
    """The project's MLflow client (params.yaml's `tracking.uri`, or MLFLOW_TRACKING_URI)."""
    from reprokit.config.compose import load_config
    from reprokit.tracking.store import connect, tracking_uri

    config = load_config(root)
    # Reading must not create (and migrate, ~7 s) an empty store as a side effect.
    missing = missing_sqlite_store(tracking_uri(config, root))
    if missing is not None:
        raise StoreNotFoundError(
            f"no MLflow store at {missing}: nothing has been recorded here yet "
            "(`reprokit run` or `dvc repro` record runs)"
        )
    return connect(config, root), config


def fetch_run(client: Any, run_id: str) -> RecordedRun:
    from mlflow.exceptions import MlflowException

    try:
        return recorded_run(client.get_run(run_id))
    except MlflowException as error:
        raise RunNotFoundError(
            f"no run {run_id!r} in the MLflow store {client.tracking_uri} ({error.message}); "
            "`reprokit runs` lists the recorded runs"
        ) from None


def check_project_run(run: RecordedRun, project: str) -> None:
    """Only runs this project recorded can be reproduced or compared with its code."""
    if not run.is_reprokit_run:
        raise NotAReprokitRunError(
            f"run {run.run_id} was not recorded by reprokit: it has no `{TAG}fingerprint` and "
            f"`{TAG}project` tags"
        )
    recorded = run.tag("project")
    if recorded != project:
        raise ForeignRunError(
            f"run {run.run_id} belongs to project {recorded!r}, not to this project "
            f"({project!r}, `project.name` in params.yaml)"
        )


def project_run(client: Any, run_id: str, project: str) -> RecordedRun:
    run = fetch_run(client, run_id)
    check_project_run(run, project)
    return run


def download_artifact(client: Any, run_id: str, path: str, destination: Path) -> Path:
    """One artifact of the run as a local file; a clear error when the store lacks it."""
    from mlflow.exceptions import MlflowException

    # MLflow draws a progress bar on stderr for every download, even of one small file.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    destination.mkdir(parents=True, exist_ok=True)
    try:
        local = Path(client.download_artifacts(run_id, path, str(destination)))
    except (MlflowException, OSError) as error:
        uri = client.get_run(run_id).info.artifact_uri
        raise MissingArtifactError(
            f"run {run_id} has no artifact {path!r} in its artifact store {uri} "
            f"({getattr(error, 'message', error)})"
        ) from None
    if not local.is_file():
        raise MissingArtifactError(f"artifact {path!r} of run {run_id} is not a file")
    return local


def parse_composed_config(text: str, run_id: str) -> dict[str, Any]:
    try:
        params = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CorruptArtifactError(
            f"{COMPOSED_CONFIG} of run {run_id} is not valid YAML: {error}"
        ) from None
    if not isinstance(params, dict):
        raise CorruptArtifactError(f"{COMPOSED_CONFIG} of run {run_id} does not hold a mapping")
    return params


def composed_config(client: Any, run_id: str, scratch: Path) -> dict[str, Any]:
    path = download_artifact(client, run_id, COMPOSED_CONFIG, scratch / run_id)
    return parse_composed_config(path.read_text(encoding="utf-8"), run_id)


# --- comparing -------------------------------------------------------------------------------


def flatten_config(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys to leaf values; lists stay whole (their order is their meaning)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


@dataclass(frozen=True)
class Change:
    key: str
    a: Any
    b: Any

    @property
    def same(self) -> bool:
        return bool(self.a == self.b)


def compare_keys(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Change]:
    """Every key of either side, in order, with `ABSENT` where one side lacks it."""
    keys = sorted(set(a) | set(b))
    return [Change(key, a.get(key, ABSENT), b.get(key, ABSENT)) for key in keys]


def config_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Change]:
    """The flattened keys whose values differ between two composed configs."""
    return [c for c in compare_keys(flatten_config(a), flatten_config(b)) if not c.same]


@dataclass(frozen=True)
class MetricDelta:
    name: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


def metric_deltas(a: Mapping[str, float], b: Mapping[str, float]) -> list[MetricDelta]:
    return [MetricDelta(name, a.get(name), b.get(name)) for name in sorted(set(a) | set(b))]


@dataclass(frozen=True)
class RunDiff:
    run_a: RecordedRun
    run_b: RecordedRun
    config: list[Change]
    data: list[Change]
    hashes: list[Change]
    metrics: list[MetricDelta]
    environment: list[Change]


HASH_TAGS = ("fingerprint", "config_hash", "code_hash", "lock_hash", "model_sha256", "git_commit")


def diff_of(
    run_a: RecordedRun, run_b: RecordedRun, config_a: Mapping[str, Any], config_b: Mapping[str, Any]
) -> RunDiff:
    hashes_a = {name: run_a.tag(name) or ABSENT for name in HASH_TAGS}
    hashes_b = {name: run_b.tag(name) or ABSENT for name in HASH_TAGS}
    return RunDiff(
        run_a=run_a,
        run_b=run_b,
        config=config_changes(config_a, config_b),
        data=compare_keys(run_a.data_hashes, run_b.data_hashes),
        hashes=[Change(n, hashes_a[n], hashes_b[n]) for n in HASH_TAGS],
        metrics=metric_deltas(run_a.result_metrics, run_b.result_metrics),
        environment=[
            Change(name, a if a is not None else ABSENT, b if b is not None else ABSENT)
            for name, a, b in environment_changes(run_a.environment, run_b.environment)
        ],
    )


def diff_runs(root: Path, run_a: str, run_b: str, scratch: Path) -> RunDiff:
    """Config, data, code and metric differences of two runs of this project."""
    client, config = open_store(root)
    runs = [project_run(client, run_id, config.project.name) for run_id in (run_a, run_b)]
    configs = [composed_config(client, run.run_id, scratch) for run in runs]
    return diff_of(runs[0], runs[1], configs[0], configs[1])


# --- listing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunsListing:
    experiment: str
    tracking_uri: str
    runs: list[RecordedRun]
    model_versions: dict[str, str]


def key_metric_names(runs: Iterable[RecordedRun]) -> list[str]:
    """The metrics of the runs' tasks that at least one run has, in the task's order."""
    runs = list(runs)
    present = {name for run in runs for name in run.metrics}
    names: list[str] = []
    for run in runs:
        for name in METRICS_BY_TASK.get(run.params.get("data.task", ""), ()):
            if name in present and name not in names:
                names.append(name)
    return names


def model_versions(client: Any, run_ids: Iterable[str]) -> dict[str, str]:
    """Run id -> `reprokit-credit v3 (champion)` for runs whose model is registered."""
    found: dict[str, Any] = {}
    for run_id in run_ids:
        versions = client.search_model_versions(f"run_id = '{run_id}'")
        if versions:
            found[run_id] = max(versions, key=lambda v: int(v.version))
    # Search results carry no aliases; the registered model has them all at once.
    aliases: dict[str, dict[str, list[str]]] = {}
    for name in {v.name for v in found.values()}:
        by_version: dict[str, list[str]] = {}
        for alias, version in client.get_registered_model(name).aliases.items():
            by_version.setdefault(str(version), []).append(alias)
        aliases[name] = by_version
    labels = {}
    for run_id, version in found.items():
        names = sorted(aliases[version.name].get(str(version.version), []))
        suffix = f" ({', '.join(names)})" if names else ""
        labels[run_id] = f"{version.name} v{version.version}{suffix}"
    return labels


def list_runs(root: Path, limit: int = DEFAULT_LIMIT) -> RunsListing:
    """The most recent runs of the configured experiment, newest first."""
    client, config = open_store(root)
    name = config.tracking.experiment
    experiment = client.get_experiment_by_name(name)
    runs: list[RecordedRun] = []
    if experiment is not None:
        found = client.search_runs(
            [experiment.experiment_id],
            order_by=["attributes.start_time DESC"],
            max_results=limit,
        )
        runs = [recorded_run(run) for run in found]
    return RunsListing(
        experiment=name,
        tracking_uri=str(client.tracking_uri),
        runs=runs,
        model_versions=model_versions(client, [run.run_id for run in runs]),
    )


# --- rendering -------------------------------------------------------------------------------


def console() -> Console:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else PIPE_WIDTH, highlight=False)


def show_value(value: Any) -> str:
    """A config or tag value as text: strings bare, everything else as JSON."""
    if value is ABSENT:
        return repr(ABSENT)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def show_number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.6g}" if signed else f"{value:.6g}"


def started_at(run: RecordedRun) -> str:
    if run.start_time_ms is None:
        return "-"
    moment = datetime.fromtimestamp(run.start_time_ms / 1000).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def render_runs(listing: RunsListing, out: Console) -> None:
    from rich.table import Table

    if not listing.runs:
        out.print(f"no runs in experiment {listing.experiment!r} of {listing.tracking_uri}")
        return
    metrics = key_metric_names(listing.runs)
    table = Table(title=f"runs of experiment {listing.experiment!r} (newest first)")
    table.add_column("run id", overflow="fold")
    for column in ("started", "status", "entry point", "fingerprint"):
        table.add_column(column, no_wrap=True)
    for name in metrics:
        table.add_column(name, justify="right")
    table.add_column("model version")
    for run in listing.runs:
        table.add_row(
            run.run_id,
            started_at(run),
            run.status,
            run.tag("entry_point") or "-",
            (run.tag("fingerprint") or "-")[:12],
            *(show_number(run.metrics.get(name)) for name in metrics),
            listing.model_versions.get(run.run_id, "-"),
        )
    out.print(table)


def _changes_table(title: str, changes: list[Change], run_a: str, run_b: str) -> Any:
    from rich.table import Table

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
