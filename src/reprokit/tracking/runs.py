"""The run store, read: recorded runs as plain data, the checks that a run is this
project's, its artifacts, the recent runs. Used by `reprokit runs`, `reprokit diff`,
`reprokit reproduce`, `reprokit lineage` and `reprokit sweeps show`.

Everything here reads the store through `MlflowClient` (`store.connect`, imported lazily:
importing mlflow costs seconds) and never writes to it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reprokit.config.models import ReprokitConfig
from reprokit.core.environment import recorded_environment
from reprokit.core.names import (
    DATA_MD5_TAG,
    FINGERPRINT_TAG,
    LEGACY_TAG_PREFIX,
    PROJECT_TAG,
    TAG_PREFIX,
    is_result_metric,
)
from reprokit.core.yaml_text import load_yaml
from reprokit.errors import ReprokitError

COMPOSED_CONFIG = "composed_config.yaml"
DEFAULT_LIMIT = 20


class RunError(ReprokitError):
    """A recorded run cannot be used: unknown, not reprokit's, another project's, incomplete."""

    exit_code = 2


class StoreNotFoundError(RunError):
    """The configured tracking store does not exist (yet)."""


class RunNotFoundError(RunError):
    """No run with this id in the tracking store."""


class AmbiguousRunError(RunError):
    """A run id prefix matches more than one run."""


class NotAReprokitRunError(RunError):
    """The run exists but was not recorded by reprokit (no `rk.*` identity tags)."""


class ForeignRunError(RunError):
    """The run was recorded by another project (tag `rk.project` differs)."""


class MissingArtifactError(RunError):
    """An artifact the run should hold is not in the artifact store."""


class CorruptArtifactError(RunError):
    """An artifact's content disagrees with what the run recorded about it."""


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

    def tag(self, key: str) -> str | None:
        """The value of tag `key` (a reprokit.core.names constant), None when not set."""
        return self.tags.get(key)

    @property
    def data_hashes(self) -> dict[str, str]:
        return {
            k[len(DATA_MD5_TAG) :]: v
            for k, v in sorted(self.tags.items())
            if k.startswith(DATA_MD5_TAG)
        }

    @property
    def environment(self) -> dict[str, str]:
        """What the run recorded of the machine that could change bytes (`env.*` tags)."""
        return recorded_environment(self.tags)

    @property
    def result_metrics(self) -> dict[str, float]:
        return {k: v for k, v in self.metrics.items() if is_result_metric(k)}

    @property
    def is_reprokit_run(self) -> bool:
        return self.tag(FINGERPRINT_TAG) is not None and self.tag(PROJECT_TAG) is not None


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


# `reprokit runs` shows ids shortened to this many characters; any command takes a unique
# prefix of at least MIN_PREFIX (like git's short hashes).
SHORT_ID = 8
MIN_PREFIX = 6
RUN_ID_LENGTH = 32
# Runs searched for a prefix, newest first: a prefix is for runs someone just listed.
PREFIX_SEARCH_LIMIT = 5000


def is_id_prefix(ref: str) -> bool:
    hexadecimal = all(char in "0123456789abcdef" for char in ref)
    return hexadecimal and MIN_PREFIX <= len(ref) < RUN_ID_LENGTH


def matching_run_ids(ref: str, run_ids: Iterable[str]) -> list[str]:
    return sorted(run_id for run_id in run_ids if run_id.startswith(ref))


def resolve_run_id(client: Any, ref: str) -> str:
    """`ref` itself, or the one run id it is a prefix of.

    Raises:
        RunNotFoundError: No run id starts with the prefix.
        AmbiguousRunError: Several do (the message lists them).
    """
    if not is_id_prefix(ref):
        return ref
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    runs = client.search_runs(
        experiments, max_results=PREFIX_SEARCH_LIMIT, order_by=["attributes.start_time DESC"]
    )
    matches = matching_run_ids(ref, (run.info.run_id for run in runs))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunNotFoundError(
            f"no run id starts with {ref!r} in the MLflow store {client.tracking_uri}; "
            "`reprokit runs` lists the recorded runs"
        )
    raise AmbiguousRunError(
        f"run id prefix {ref!r} matches {len(matches)} runs ({', '.join(matches[:5])}); "
        "give more characters"
    )


def fetch_run(client: Any, run_id: str) -> RecordedRun:
    """The run `run_id` names: a full id or a unique prefix of one."""
    from mlflow.exceptions import MlflowException

    full_id = resolve_run_id(client, run_id)
    try:
        return recorded_run(client.get_run(full_id))
    except MlflowException as error:
        raise RunNotFoundError(
            f"no run {run_id!r} in the MLflow store {client.tracking_uri} ({error.message}); "
            "`reprokit runs` lists the recorded runs"
        ) from None


def check_project_run(run: RecordedRun, project: str) -> None:
    """Only runs this project recorded can be reproduced or compared with its code."""
    if not run.is_reprokit_run:
        if any(key.startswith(LEGACY_TAG_PREFIX) for key in run.tags):
            raise NotAReprokitRunError(
                f"run {run.run_id} was recorded by an older reprokit, whose tags start with "
                f"`{LEGACY_TAG_PREFIX}` (now `{TAG_PREFIX}`): this version cannot read it; "
                "record the experiment again (`reprokit run` or `dvc repro`)"
            )
        raise NotAReprokitRunError(
            f"run {run.run_id} was not recorded by reprokit: it has no `{FINGERPRINT_TAG}` "
            f"and `{PROJECT_TAG}` tags"
        )
    recorded = run.tag(PROJECT_TAG)
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
        params = load_yaml(text)
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


# --- listing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunsListing:
    experiment: str
    tracking_uri: str
    runs: list[RecordedRun]
    model_versions: dict[str, str]


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
