"""Everything that talks to MLflow. Imported lazily: importing mlflow costs seconds.

Uses `MlflowClient` with explicit run ids rather than the fluent API's global active run,
so runs from parallel executions never mix. Logging is batched (params, metrics, tags).
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from reprokit.config.models import ReprokitConfig
from reprokit.errors import ReprokitError
from reprokit.lineage.environment import ENV_TAG, byte_environment
from reprokit.logs import get_logger
from reprokit.tracking.fingerprint import Fingerprint, file_sha256

log = get_logger(__name__)

TAG = "reprokit."
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
MAX_TAG_LENGTH = 8000  # MLflow's limit on a tag value (SQLite accepts more; servers do not)
TRUNCATED = "...(truncated: see composed_config.yaml)"
BATCH = 100  # MLflow's limit on params/tags per log_batch call
VERSIONED_PACKAGES = (
    "reprokit",
    "kedro",
    "dvc",
    "mlflow",
    "lightgbm",
    "pandas",
    "numpy",
    "pandera",
    "pyarrow",
    "scikit-learn",
    "hydra-core",
)


class TrackingError(ReprokitError):
    """The tracking store cannot be reached or holds something unexpected."""


@dataclass
class Execution:
    """What one pipeline execution hands to the store."""

    config: ReprokitConfig
    params: Mapping[str, Any]
    root: Path
    fingerprint: Fingerprint
    entry_point: str
    overrides: list[str] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    params_yaml: str = ""


# --- where ---------------------------------------------------------------------------------


def store_root(root: Path) -> Path:
    """Where the project's embedded store lives: the project root, except in a queued or
    temp-dir DVC experiment, which runs in a copy under .dvc/tmp/exps and would otherwise
    record into that throwaway copy. DVC then sets DVC_ROOT to the real repository (the
    variable DVCLive reads for the same reason) and DVC_EXP_NAME to the experiment."""
    dvc_root = os.environ.get("DVC_ROOT")
    if os.environ.get("DVC_EXP_NAME") and dvc_root and Path(dvc_root).is_dir():
        return Path(dvc_root)
    return root


def tracking_uri(config: ReprokitConfig, root: Path) -> str:
    """MLFLOW_TRACKING_URI, else the config's; a relative SQLite path is the project's."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or config.tracking.uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str((store_root(root) / uri[len(prefix) :]).resolve())
    return uri


def artifact_location(config: ReprokitConfig, root: Path) -> str | None:
    location = config.tracking.artifact_location
    if location is None or "://" in location:
        return location
    return (store_root(root) / location).resolve().as_uri()


def connect(config: ReprokitConfig, root: Path) -> Any:
    import logging

    from mlflow import MlflowClient

    # MLflow installs its own stderr handler; its records go through ours (and JSON) instead.
    mlflow_logger = logging.getLogger("mlflow")
    mlflow_logger.handlers.clear()
    mlflow_logger.propagate = True
    mlflow_logger.setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=tracking_uri(config, root))


def experiment_id(client: Any, config: ReprokitConfig, root: Path) -> str:
    """The configured experiment, created on first use with the project's artifact folder."""
    from mlflow.exceptions import MlflowException

    name = config.tracking.experiment
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        return str(client.create_experiment(name, artifact_location(config, root)))
    except MlflowException as error:
        raise TrackingError(
            f"MLflow store {client.tracking_uri} cannot be used for experiment {name!r}: "
            f"{error.message}"
        ) from None


# --- runs ----------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_abandoned_runs(client: Any, experiment: str) -> list[str]:
    """Runs left RUNNING by a process of this host that no longer exists become KILLED."""
    host = socket.gethostname()
    abandoned: list[str] = []
    runs = client.search_runs(
        [experiment],
        filter_string=f"attributes.status = 'RUNNING' and tags.`{TAG}host` = '{host}'",
        max_results=200,
    )
    for run in runs:
        pid = run.data.tags.get(f"{TAG}pid", "")
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            client.set_tag(
                run.info.run_id,
                f"{TAG}status_note",
                f"process {pid} ended without closing the run; marked KILLED "
                f"by process {os.getpid()}",
            )
            client.set_terminated(run.info.run_id, status="KILLED")
            abandoned.append(run.info.run_id)
    if abandoned:
        log.warning("tracking.abandoned_runs_marked_killed", runs=abandoned)
    return abandoned


def _git(root: Path, *args: str) -> str:
    try:
        result = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def identity_tags(execution: Execution) -> dict[str, str]:
    """Tags that identify the execution: fingerprint and its parts, code, environment."""
    fingerprint = execution.fingerprint
    tags = {
        f"{TAG}project": execution.config.project.name,
        f"{TAG}fingerprint": fingerprint.value,
        f"{TAG}config_hash": fingerprint.config_hash,
        f"{TAG}code_hash": fingerprint.code_hash,
        f"{TAG}lock_hash": fingerprint.lock_hash,
        f"{TAG}entry_point": execution.entry_point,
        f"{TAG}overrides": _truncated(json.dumps(execution.overrides), MAX_TAG_LENGTH),
        f"{TAG}host": socket.gethostname(),
        f"{TAG}pid": str(os.getpid()),
        f"{TAG}git_commit": _git(execution.root, "rev-parse", "HEAD") or "unknown",
        f"{TAG}git_dirty": str(
            bool(_git(execution.root, "status", "--porcelain", "--untracked-files=no"))
        ).lower(),
        "mlflow.runName": f"{execution.config.data.name}-{fingerprint.value[:8]}",
        "mlflow.source.name": execution.entry_point,
    }
    if os.environ.get("DVC_EXP_NAME"):  # links `dvc exp show` and the MLflow run
        tags[f"{TAG}dvc_experiment"] = os.environ["DVC_EXP_NAME"]
    tags.update({f"{TAG}data.{name}": md5 for name, md5 in fingerprint.data_hashes.items()})
    tags.update({f"{TAG}version.{name}": version for name, version in _versions().items()})
    # What could change the bytes on another machine (CPU, SIMD level, BLAS, libc, versions).
    tags.update({f"{TAG}{ENV_TAG}{name}": fact for name, fact in byte_environment().items()})
    return tags


def start_run(
    client: Any,
    execution: Execution,
    extra_tags: Mapping[str, str] | None = None,
    start_time: int | None = None,
) -> str:
    """Create the execution's run (status RUNNING), after closing abandoned ones.

    `extra_tags` add to or replace the identity tags (a sweep's job: parent run, sweep id);
    `start_time` (ms) records when the work started if the run is logged afterwards."""
    experiment = experiment_id(client, execution.config, execution.root)
    mark_abandoned_runs(client, experiment)
    tags = {**identity_tags(execution), **(extra_tags or {})}
    run = client.create_run(
        experiment, start_time=start_time, run_name=tags["mlflow.runName"], tags=tags
    )
    return str(run.info.run_id)


def end_run_failed(
    client: Any,
    run_id: str,
    error: BaseException | str,
    stage: str | None = None,
    end_time: int | None = None,
) -> None:
    """FAILED, with the error as a tag (short) and an artifact (whole)."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    client.set_tag(run_id, f"{TAG}error", text[:MAX_PARAM_LENGTH])
    if stage:
        client.set_tag(run_id, f"{TAG}failed_stage", stage)
    client.log_text(run_id, text, "error.txt")
    client.set_terminated(run_id, status="FAILED", end_time=end_time)


# --- what a run holds ------------------------------------------------------------------------


def flatten(params: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Dotted keys and string values; long values are cut to MLflow's limit, marked so."""
    for key, value in params.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from flatten(value, f"{dotted}.")
            continue
        text = json.dumps(value) if isinstance(value, list | dict) else str(value)
        yield dotted, _truncated(text, MAX_PARAM_LENGTH)


def _truncated(text: str, limit: int) -> str:
    """`text` cut to MLflow's `limit`, marked so nobody mistakes it for the whole value."""
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _numeric_metrics(values: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _catalog_path(execution: Execution, dataset: str) -> Path | None:
    entry = execution.config.catalog.get(dataset, {})
    if "filepath" not in entry:
        return None
    path = Path(entry["filepath"])
    return path if path.is_absolute() else execution.root / path


def _log_params_and_metrics(client: Any, run_id: str, execution: Execution) -> dict[str, float]:
    from mlflow.entities import Metric, Param

    flat = list(flatten(execution.params))
    for chunk in _chunks(flat, BATCH):
        client.log_batch(run_id, params=[Param(k, v) for k, v in chunk])
    metrics_path = _catalog_path(execution, execution.config.tracking.metrics)
    metrics = {}
    if metrics_path is not None and metrics_path.is_file():
        metrics = _numeric_metrics(json.loads(metrics_path.read_text(encoding="utf-8")))
    timings = {
        # `reprokit run -p prepare -p features` records "prepare+features"; MLflow rejects "+".
        f"time.{re.sub(r'[^A-Za-z0-9_./ :-]', '_', stage)}_s": float(record.get("seconds", 0.0))
        for stage, record in execution.records.items()
    }
    timestamp = 0
    entries = [Metric(k, v, timestamp, 0) for k, v in {**metrics, **timings}.items()]
    for chunk in _chunks(entries, BATCH):
        client.log_batch(run_id, metrics=chunk)
    return metrics


def _log_inputs(client: Any, run_id: str, execution: Execution) -> None:
    """Lineage in the MLflow UI: each input dataset with DVC's content hash as digest."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    from reprokit.tracking.fingerprint import file_md5

    inputs = []
    for dataset in execution.config.tracking.datasets:
        path = _catalog_path(execution, dataset)
        if path is None or not path.is_file():
            continue
        digest = execution.fingerprint.data_hashes.get(dataset) or file_md5(path)
        # A dataset known by its source and digest, without loading its rows.
        with warnings.catch_warnings():
            # Two registered local sources match a file URI; either is right for a file.
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(path.as_uri())
        meta = MetaDataset(source, name=dataset, digest=digest)  # type: ignore[abstract]
        context = "raw" if dataset in execution.fingerprint.data_hashes else dataset
        inputs.append(
            DatasetInput(meta._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", context)])
        )
    if inputs:
        client.log_inputs(run_id, datasets=inputs)


def _log_artifacts(client: Any, run_id: str, execution: Execution) -> dict[str, str]:
    """Declared catalog files/folders, the composed config, validation and stage records."""
    hashes: dict[str, str] = {}
    for dataset in execution.config.tracking.artifacts:
        path = _catalog_path(execution, dataset)
        if path is None or not path.exists():
            continue
        if path.is_dir():
            client.log_artifacts(run_id, str(path), dataset)
        else:
            client.log_artifact(run_id, str(path), dataset)
            hashes[dataset] = file_sha256(path)
    client.log_text(run_id, execution.params_yaml, "composed_config.yaml")
    client.log_dict(run_id, execution.fingerprint.as_dict(), "fingerprint.json")
    validation = {
        name: summary
        for record in execution.records.values()
        for name, summary in record.get("validated", {}).items()
    }
    client.log_dict(run_id, validation, "validation_summary.json")
    client.log_dict(run_id, execution.records, "stage_records.json")
    return hashes


def log_execution(
    client: Any, run_id: str, execution: Execution, end_time: int | None = None
) -> dict[str, float]:
    """Fill the run with everything needed to redo it, and end it FINISHED."""
    metrics = _log_params_and_metrics(client, run_id, execution)
    _log_inputs(client, run_id, execution)
    hashes = _log_artifacts(client, run_id, execution)
    model_path = _catalog_path(execution, "model")
    if model_path is not None and model_path.is_file():
        client.set_tag(run_id, f"{TAG}model_sha256", hashes.get("model") or file_sha256(model_path))
    client.set_terminated(run_id, status="FINISHED", end_time=end_time)
    return metrics


# --- registry ----------------------------------------------------------------------------------


def register_model(
    client: Any, run_id: str, execution: Execution, metrics: Mapping[str, float]
) -> str | None:
    """A new version of the configured model, alias `challenger`; `champion` moves when the
    promotion rule says the new version is better (or there is no champion yet)."""
    import lightgbm as lgb
    import mlflow

    name = execution.config.tracking.registered_model
    model_path = _catalog_path(execution, "model")
    if name is None or model_path is None or not model_path.is_file():
        return None
    mlflow.set_tracking_uri(client.tracking_uri)
    booster = lgb.Booster(model_file=str(model_path))
    with mlflow.start_run(run_id=run_id):
        info = mlflow.lightgbm.log_model(
            # Not "model": that name is the catalog's model artifact folder in the same run.
            booster,
            name="lightgbm_model",
            pip_requirements=[f"lightgbm=={lgb.__version__}"],
        )
    version = client.create_model_version(
        name=_ensure_registered_model(client, name),
        source=info.model_uri,
        run_id=run_id,
        # A tracking server requires the logged model's id for a `models:/` source.
        model_id=info.model_id,
        tags={
            f"{TAG}fingerprint": execution.fingerprint.value,
            f"{TAG}run_id": run_id,
            f"{TAG}model_sha256": file_sha256(model_path),
        },
    )
    client.set_registered_model_alias(name, "challenger", version.version)
    _apply_promotion_rule(client, name, str(version.version), execution, metrics)
    return str(version.version)


def _ensure_registered_model(client: Any, name: str) -> str:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    return name


def _champion(client: Any, name: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None


def _apply_promotion_rule(
    client: Any, name: str, version: str, execution: Execution, metrics: Mapping[str, float]
) -> None:
    metric, direction = execution.config.tracking.promotion.resolved(execution.config.data.task)
    margin = execution.config.tracking.promotion.min_improvement
    champion = _champion(client, name)
    new_value = metrics.get(metric)
    if champion is None:
        reason = "first registered version"
    else:
        old_value = client.get_run(champion.run_id).data.metrics.get(metric)
        if new_value is None or old_value is None:
            return
        gain = new_value - old_value if direction == "maximize" else old_value - new_value
        # A tie keeps the champion: moving it to an equally good model is churn.
        if gain <= 0 or gain < margin:
            log.info(
                "registry.champion_kept",
                model=name,
                champion=champion.version,
                metric=metric,
                champion_value=old_value,
                challenger_value=new_value,
            )
            return
        reason = (
            f"promotion rule: {metric} {new_value:.6g} vs champion v{champion.version} "
            f"{old_value:.6g} ({direction}, min improvement {margin})"
        )
    promote(client, name, version, reason)


def promote(client: Any, name: str, version: str, reason: str) -> None:
    """Move `champion` to `version`, recording who/why on the version."""
    client.set_registered_model_alias(name, "champion", version)
    client.set_model_version_tag(name, version, f"{TAG}promotion_reason", reason)
    log.info("registry.champion_moved", model=name, version=version, reason=reason)
