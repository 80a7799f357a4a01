"""Everything that talks to MLflow. Imported lazily: importing mlflow costs seconds.

Uses `MlflowClient` with explicit run ids rather than the fluent API's global active run,
so runs from parallel executions never mix. Logging is batched (params, metrics, tags).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from reprokit.config.models import METRICS_BY_TASK, ReprokitConfig
from reprokit.config.roles import MODEL, TEST_SPLIT, TRAINING_HISTORY, role_dataset
from reprokit.core.content.files import file_md5, file_sha256
from reprokit.core.content.fingerprint import Fingerprint
from reprokit.core.content.params import canonical_hash
from reprokit.core.environment import byte_environment, package_versions
from reprokit.core.names import (
    CHALLENGER,
    CHAMPION,
    CODE_HASH_TAG,
    CONFIG_HASH_TAG,
    DATA_MD5_TAG,
    DVC_EXPERIMENT_TAG,
    ENTRY_POINT_TAG,
    ENV_TAG,
    ERROR_TAG,
    EVALUATION_TAG,
    FAILED_STAGE_TAG,
    FINGERPRINT_TAG,
    GIT_COMMIT_TAG,
    GIT_DIRTY_TAG,
    HOST_TAG,
    LOCK_HASH_TAG,
    MODEL_SHA256_TAG,
    MODEL_TAG,
    MODEL_VERSION_TAG,
    OVERRIDES_TAG,
    PID_TAG,
    PROJECT_TAG,
    PROMOTION_REASON_TAG,
    PROMOTION_REFUSED_TAG,
    QUALITY_GATE_TAG,
    RUN_ID_TAG,
    STATUS_NOTE_TAG,
    TEST_SPLIT_TAG,
    VERSION_TAG,
)
from reprokit.errors import ReprokitError
from reprokit.logs import get_logger
from reprokit.models.base import Predictor
from reprokit.tracking.figure_footer import (
    FIGURE_SUFFIX,
    FIGURES_DATASET_TYPE,
    footer_text,
    with_footer,
)
from reprokit.tracking.outputs import (
    GATE_NOT_CHECKED,
    MODEL_ORIGIN_TEXT,
    NOT_TRAINED,
    Output,
    output_sha256_key,
)
from reprokit.tracking.promotion import (
    Candidate,
    Decision,
    PromotionRule,
    decide,
    rejudges_reused,
)
from reprokit.tracking.run_view import (
    RUNS_VIEW_TAG,
    experiment_params,
    learning_curve_points,
    run_name,
    runs_table_view,
    version_description,
)

log = get_logger(__name__)

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
MAX_TAG_LENGTH = 8000  # MLflow's limit on a tag value (SQLite accepts more; servers do not)
TRUNCATED = "...(truncated: see composed_config.yaml)"
# MLflow's limits on one log_batch call: params, tags, metrics, and all entries together.
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
MAX_BATCH_METRICS = 1000
MAX_BATCH_ENTRIES = 1000
VERSIONED_PACKAGES = (
    "reprokit",
    "kedro",
    "dvc",
    "mlflow",
    "lightgbm",
    "xgboost-cpu",
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
    # What this execution produced (src/reprokit/tracking/outputs.py): nothing else is
    # logged as its model, metrics or artifacts.
    outputs: dict[str, Output] = field(default_factory=dict)
    gate: str = GATE_NOT_CHECKED


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


# MLflow 3's UI opens an experiment in GenAI mode (traces, tokens, cost) unless its kind says
# it is for model training.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = (EXPERIMENT_KIND_TAG, "custom_model_development")
DEFAULT_EXPERIMENT_ID = "0"
ALL_RUNS = 3  # mlflow.entities.ViewType.ALL, without importing MLflow at module import


TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"


def tracking_uri(config: ReprokitConfig, root: Path) -> str:
    """MLFLOW_TRACKING_URI, else the config's; a relative SQLite path is the project's."""
    uri = os.environ.get(TRACKING_URI_ENV) or config.tracking.uri
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
    tags = experiment_tags(config)
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            for key, value in tags.items():  # made by an older reprokit, or another task
                if experiment.tags.get(key) != value:
                    client.set_experiment_tag(experiment.experiment_id, key, value)
            return str(experiment.experiment_id)
        created = str(client.create_experiment(name, artifact_location(config, root), tags=tags))
        if client.tracking_uri.startswith("sqlite:"):
            _retire_empty_default_experiment(client)
        return created
    except MlflowException as error:
        raise TrackingError(
            f"MLflow store {client.tracking_uri} cannot be used for experiment {name!r}: "
            f"{error.message}"
        ) from None


def experiment_tags(config: ReprokitConfig) -> dict[str, str]:
    """The experiment's kind, and the runs-table view its UI links open (run_view)."""
    metric, direction = config.tracking.promotion.resolved(config.data.task)
    shown = [*config.evaluation.gate, *METRICS_BY_TASK[config.data.task]]
    view = runs_table_view(metric, direction == "maximize", shown)
    return dict([EXPERIMENT_KIND, (RUNS_VIEW_TAG, view)])


def _retire_empty_default_experiment(client: Any) -> None:
    """The project's own SQLite store opens on the project's experiment, not on the empty
    "Default" one MLflow creates with every store (deleted, so restorable; a store shared
    through a server is never touched)."""
    from mlflow.exceptions import MlflowException

    try:
        default = client.get_experiment(DEFAULT_EXPERIMENT_ID)
        if default.lifecycle_stage == "active" and not client.search_runs(
            [DEFAULT_EXPERIMENT_ID], max_results=1, run_view_type=ALL_RUNS
        ):
            client.delete_experiment(DEFAULT_EXPERIMENT_ID)
    except MlflowException as error:  # cosmetic only: never fail a run over it
        log.info("tracking.default_experiment_kept", reason=error.message)


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
        filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
        max_results=200,
    )
    for run in runs:
        pid = run.data.tags.get(PID_TAG, "")
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            client.set_tag(
                run.info.run_id,
                STATUS_NOTE_TAG,
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


def environment_tags(root: Path) -> dict[str, str]:
    """What an execution ran on: the git commit (and whether the work tree differed from it),
    the package versions and the facts that can change a result's bytes. Nothing of it can
    change between the jobs of one sweep's process (they run the code it imported), so a
    sweep computes it once for all its jobs' runs."""
    tags = {
        GIT_COMMIT_TAG: _git(root, "rev-parse", "HEAD") or "unknown",
        GIT_DIRTY_TAG: str(
            bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
        ).lower(),
    }
    versions = package_versions(VERSIONED_PACKAGES)
    tags.update({f"{VERSION_TAG}{name}": version for name, version in versions.items()})
    # What could change the bytes on another machine (CPU, SIMD level, BLAS, libc, versions).
    tags.update({f"{ENV_TAG}{name}": fact for name, fact in byte_environment().items()})
    return tags


def identity_tags(
    execution: Execution, environment: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Tags that identify the execution: fingerprint and its parts, code, environment
    (`environment`: `environment_tags` already computed for this process and project)."""
    fingerprint = execution.fingerprint
    tags = {
        PROJECT_TAG: execution.config.project.name,
        FINGERPRINT_TAG: fingerprint.value,
        CONFIG_HASH_TAG: fingerprint.config_hash,
        CODE_HASH_TAG: fingerprint.code_hash,
        LOCK_HASH_TAG: fingerprint.lock_hash,
        ENTRY_POINT_TAG: execution.entry_point,
        OVERRIDES_TAG: _truncated(json.dumps(execution.overrides), MAX_TAG_LENGTH),
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(os.getpid()),
        # Entry point, changes and time: runs of one config (a `dvc repro` and a `kedro run`
        # share the fingerprint) were indistinguishable in the runs table.
        "mlflow.runName": run_name(
            execution.entry_point,
            execution.overrides,
            datetime.now(),
            os.environ.get("DVC_EXP_NAME", ""),
        ),
        "mlflow.source.name": execution.entry_point,
    }
    if os.environ.get("DVC_EXP_NAME"):  # links `dvc exp show` and the MLflow run
        tags[DVC_EXPERIMENT_TAG] = os.environ["DVC_EXP_NAME"]
    tags.update({f"{DATA_MD5_TAG}{name}": md5 for name, md5 in fingerprint.data_hashes.items()})
    tags.update(environment_tags(execution.root) if environment is None else environment)
    return tags


def start_run(
    client: Any,
    execution: Execution,
    extra_tags: Mapping[str, str] | None = None,
    start_time: int | None = None,
    *,
    environment: Mapping[str, str] | None = None,
) -> str:
    """Create the execution's run (status RUNNING), after closing abandoned ones.

    `extra_tags` add to or replace the identity tags (a sweep's job: parent run, sweep id);
    `start_time` (ms) records when the work started if the run is logged afterwards;
    `environment`: `environment_tags` computed once for several runs (a sweep's jobs)."""
    experiment = experiment_id(client, execution.config, execution.root)
    mark_abandoned_runs(client, experiment)
    tags = {**identity_tags(execution, environment), **(extra_tags or {})}
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
    *,
    execution: Execution | None = None,
) -> None:
    """FAILED, with the error as a tag (short) and an artifact (whole). With the
    `execution`, what it produced is tagged too: a run failed by its quality gate names the
    model it trained, so that packaging that model can say which run and gate refused it."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    tags = output_tags(execution) if execution is not None else {}
    tags[ERROR_TAG] = text[:MAX_PARAM_LENGTH]
    if stage:
        tags[FAILED_STAGE_TAG] = stage
    client.log_batch(run_id, tags=_tag_list(tags))  # one transaction (<= 100 tags)
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


def batches(
    params: list[Any], metrics: list[Any], tags: list[Any]
) -> Iterator[tuple[list[Any], list[Any], list[Any]]]:
    """(params, metrics, tags) for each `log_batch` call, as few calls as MLflow's limits
    allow (each call is one store transaction), every entry once and in order."""
    p, m, t = 0, 0, 0
    while p < len(params) or m < len(metrics) or t < len(tags):
        taken_p = params[p : p + MAX_BATCH_PARAMS]
        taken_t = tags[t : t + min(MAX_BATCH_TAGS, MAX_BATCH_ENTRIES - len(taken_p))]
        room = MAX_BATCH_ENTRIES - len(taken_p) - len(taken_t)
        taken_m = metrics[m : m + min(MAX_BATCH_METRICS, room)]
        p, m, t = p + len(taken_p), m + len(taken_m), t + len(taken_t)
        yield taken_p, taken_m, taken_t


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


def _log_params_and_metrics(
    client: Any,
    run_id: str,
    execution: Execution,
    measured: Mapping[str, float],
    tags: Mapping[str, str],
) -> dict[str, float]:
    """The params, the evaluation metrics (returned), the stage timings, `measured` (the
    costs) and the learning curve, with `tags`, in as few `log_batch` calls as MLflow's
    limits allow: one for the demo (each call is a store transaction)."""
    from mlflow.entities import Metric, Param

    # The experiment-defining keys; the whole config is the run's composed_config.yaml.
    params = [Param(k, v) for k, v in flatten(experiment_params(execution.params))]
    metrics_path = produced_file(execution, execution.config.tracking.metrics)
    metrics = {}
    if metrics_path is not None:
        metrics = _numeric_metrics(json.loads(metrics_path.read_text(encoding="utf-8")))
    timings = {
        # `reprokit run -p prepare -p features` records "prepare+features"; MLflow rejects "+".
        f"time.{re.sub(r'[^A-Za-z0-9_./ :-]', '_', stage)}_s": float(record.get("seconds", 0.0))
        for stage, record in execution.records.items()
    }
    # When they were logged: MLflow charts them against time (0 showed as 1970).
    timestamp = int(time.time() * 1000)
    entries = [Metric(k, v, timestamp, 0) for k, v in {**metrics, **timings, **measured}.items()]
    entries += [
        Metric(name, value, timestamp, step) for name, value, step in _learning_curve(execution)
    ]
    for batch in batches(params, entries, _tag_list(tags)):
        client.log_batch(run_id, params=batch[0], metrics=batch[1], tags=batch[2])
    return metrics


def _learning_curve(execution: Execution) -> list[tuple[str, float, int]]:
    """(metric name, value, iteration) of each iteration's validation metric, when this
    execution trained the model: MLflow draws it as the run's learning curve."""
    dataset = role_dataset(execution.config.catalog, TRAINING_HISTORY)
    path = produced_file(execution, dataset) if dataset else None
    if path is None:
        return []
    return learning_curve_points(json.loads(path.read_text(encoding="utf-8")))


def _log_inputs(client: Any, run_id: str, execution: Execution) -> None:
    """Lineage in the MLflow UI: each input dataset with DVC's content hash as digest."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    from reprokit.core.content.files import file_md5

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


def _log_artifacts(client: Any, run_id: str, execution: Execution, figures: bool) -> None:
    """Declared catalog files/folders this execution produced (the figures only with
    `figures`), the composed config, validation and stage records."""
    for dataset in execution.config.tracking.artifacts:
        path = _catalog_path(execution, dataset)
        if dataset not in execution.outputs or path is None or not path.exists():
            continue  # not this execution's: another config's file must not pose as ours
        if _is_figures(execution, dataset):
            if figures:
                _log_figures(client, run_id, execution, dataset, version=None)
        elif path.is_dir():
            client.log_artifacts(run_id, str(path), dataset)
        else:
            produced_file(execution, dataset)  # still the bytes this execution wrote
            client.log_artifact(run_id, str(path), dataset)
    client.log_text(run_id, execution.params_yaml, "composed_config.yaml")
    client.log_dict(run_id, execution.fingerprint.as_dict(), "fingerprint.json")
    validation = {
        name: summary
        for record in execution.records.values()
        for name, summary in record.get("validated", {}).items()
    }
    client.log_dict(run_id, validation, "validation_summary.json")
    client.log_dict(run_id, execution.records, "stage_records.json")


def _is_figures(execution: Execution, dataset: str) -> bool:
    entry = execution.config.catalog.get(dataset, {})
    path = _catalog_path(execution, dataset)
    return entry.get("type") == FIGURES_DATASET_TYPE and path is not None and path.is_dir()


def _log_figures(
    client: Any, run_id: str, execution: Execution, dataset: str, version: str | None
) -> None:
    """A figures folder, each PNG with a footer naming the run, the model version (or
    "not registered") and the fingerprint; other files as they are. Copies: the folder DVC
    tracks keeps its bytes."""
    folder = _catalog_path(execution, dataset)
    assert folder is not None, "_is_figures checked it"
    text = footer_text(
        run_id, execution.fingerprint.value, execution.config.tracking.registered_model, version
    )
    with tempfile.TemporaryDirectory(prefix="reprokit-figures-") as scratch:
        for path in sorted(folder.iterdir()):
            if not path.is_file():
                continue
            copy = Path(scratch) / path.name
            if path.suffix == FIGURE_SUFFIX:
                copy.write_bytes(with_footer(path.read_bytes(), text))
            else:
                shutil.copy2(path, copy)
        client.log_artifacts(run_id, scratch, dataset)


def log_run_figures(client: Any, run_id: str, execution: Execution, version: str | None) -> None:
    """The run's figures, their footers naming `version` (None: "not registered"); logged
    under the same names, a second call replaces the first one's."""
    for dataset in execution.config.tracking.artifacts:
        if dataset in execution.outputs and _is_figures(execution, dataset):
            _log_figures(client, run_id, execution, dataset, version)


def log_execution(
    client: Any,
    run_id: str,
    execution: Execution,
    end_time: int | None = None,
    *,
    figures: bool = True,
    measured: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Fill the run with everything needed to redo it, and end it FINISHED. `figures=False`
    leaves the figures to `register_model(..., figures_logged=False)`, which draws their
    footers once, with the version (a sweep logs every job's and registers only the best).
    `measured`: more metrics, logged with the others (the execution's costs)."""
    _log_inputs(client, run_id, execution)
    # The files first (each produced one checked to still hold the bytes it wrote): a
    # changed one ends the logging before the run carries metrics or output tags.
    _log_artifacts(client, run_id, execution, figures)
    # Params, metrics and output tags in one transaction rather than three (a `log_batch`
    # took 20-30 ms in the `track` stage against the demo's SQLite store).
    metrics = _log_params_and_metrics(
        client, run_id, execution, measured or {}, output_tags(execution)
    )
    if _model(execution) not in execution.outputs:
        log.info("tracking.no_model", run_id=run_id, detail=NOT_TRAINED)
    client.set_terminated(run_id, status="FINISHED", end_time=end_time)
    return metrics


def produced_file(execution: Execution, dataset: str) -> Path | None:
    """The file of `dataset` if this execution produced it, checked to still hold the bytes
    it wrote; None if the execution did not produce it.

    Raises:
        TrackingError: The file changed since the execution wrote it.
    """
    output = execution.outputs.get(dataset)
    path = _catalog_path(execution, dataset)
    if output is None or path is None or not path.is_file():
        return None
    if output.sha256 is not None and file_sha256(path) != output.sha256:
        raise TrackingError(
            f"{path} changed after this execution wrote it (sha256 {output.sha256[:12]} "
            "when written): another command wrote into the workspace meanwhile; nothing "
            "of it is recorded as this run's, run the pipeline again"
        )
    return path


def test_split_md5(execution: Execution) -> str | None:
    """The content hash (DVC's md5) of the test split the metrics were computed on."""
    path = _catalog_path(execution, role_dataset(execution.config.catalog, TEST_SPLIT) or "")
    return file_md5(path) if path is not None and path.is_file() else None


def evaluation_hash(params: Mapping[str, Any]) -> str:
    """The evaluation config that shapes the metrics; the gates only judge them."""
    evaluation = dict(params.get("evaluation") or {})
    evaluation.pop("gate", None)
    evaluation.pop("gates", None)
    return canonical_hash(evaluation)


def _model(execution: Execution) -> str:
    """The model's catalog dataset (by its role); "" when none has the role: no output is
    named so, as when the execution trained no model."""
    return role_dataset(execution.config.catalog, MODEL) or ""


def output_tags(execution: Execution) -> dict[str, str]:
    """What the run says about its outputs: the model (its sha256 only when this execution
    produced it), the quality gate, and the test data its metrics come from."""
    model = execution.outputs.get(_model(execution))
    tags = {
        MODEL_TAG: NOT_TRAINED if model is None else MODEL_ORIGIN_TEXT[model.origin],
        QUALITY_GATE_TAG: execution.gate,
    }
    if model is not None and model.sha256 is not None:
        tags[MODEL_SHA256_TAG] = model.sha256
    # The bytes of every other file it produced: packaging checks the feature state and
    # profile it bundles with the model are this run's too.
    tags.update(
        {
            output_sha256_key(execution.config.catalog, name): output.sha256
            for name, output in sorted(execution.outputs.items())
            if output.sha256 is not None and name != _model(execution)
        }
    )
    if execution.config.tracking.metrics in execution.outputs:
        split = test_split_md5(execution)
        if split is not None:
            tags[TEST_SPLIT_TAG] = split
        tags[EVALUATION_TAG] = evaluation_hash(execution.params)
    return tags


def _tag_list(tags: Mapping[str, str]) -> list[Any]:
    from mlflow.entities import RunTag

    return [RunTag(key, value) for key, value in tags.items()]


# --- registry ----------------------------------------------------------------------------------


def register_model(
    client: Any,
    run_id: str,
    execution: Execution,
    metrics: Mapping[str, float],
    *,
    figures_logged: bool = True,
) -> str | None:
    """Register the model this execution produced, alias `challenger`; `champion` moves when
    the promotion rule says so. A model whose sha256 already has a version reuses it (the
    same bytes are the same model: no duplicate version, `challenger` stays); if this
    execution evaluated it, the rule judges that version again with this run's metrics and
    rule. Nothing is registered when the execution produced no model. The run's figures
    then name the version in their footers (`figures_logged=False`: they are logged here,
    registered or not, even when registering fails)."""
    try:
        version = _register(client, run_id, execution, metrics)
    except Exception:
        if not figures_logged:
            log_run_figures(client, run_id, execution, None)
        raise
    if version is not None or not figures_logged:
        log_run_figures(client, run_id, execution, version)
    return version


def _register(
    client: Any, run_id: str, execution: Execution, metrics: Mapping[str, float]
) -> str | None:
    name = execution.config.tracking.registered_model
    model_path = produced_file(execution, _model(execution))
    if name is None or model_path is None:
        return None
    sha256 = execution.outputs[_model(execution)].sha256 or file_sha256(model_path)
    existing = _version_with_sha256(client, name, sha256)
    if existing is not None:
        client.set_tag(run_id, MODEL_VERSION_TAG, existing)
        log.info("registry.version_reused", model=name, version=existing, sha256=sha256[:12])
        champion = _champion(client, name)
        evaluated = execution.config.tracking.metrics in execution.outputs
        if rejudges_reused(
            existing, None if champion is None else str(champion.version), evaluated
        ):
            _apply_promotion_rule(client, name, existing, execution, metrics)
        return existing
    version = _create_version(client, run_id, execution, name, sha256, metrics=metrics)
    client.set_tag(run_id, MODEL_VERSION_TAG, version)
    client.set_registered_model_alias(name, CHALLENGER, version)
    _apply_promotion_rule(client, name, version, execution, metrics)
    return version


@contextmanager
def fluent_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API (`log_model`) pointed at `uri` for the block only.

    `mlflow.set_tracking_uri` also exports `MLFLOW_TRACKING_URI` to the process environment
    (for subprocesses), where `tracking_uri()` reads it first: left set, every later
    execution in the process, and every command it starts, recorded into this store instead
    of its own. Both are restored after the block."""
    import mlflow

    exported = os.environ.get(TRACKING_URI_ENV)
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        # None unsets MLflow's global (and the variable): it reads the variable again rather
        # than staying pinned to a value resolved now. Setting the global always exports the
        # variable, so restoring the variable restores what MLflow saw before.
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        if exported is not None:
            os.environ[TRACKING_URI_ENV] = exported


def _create_version(
    client: Any,
    run_id: str,
    execution: Execution,
    name: str,
    sha256: str,
    *,
    metrics: Mapping[str, float],
) -> str:
    import importlib

    import mlflow

    from reprokit._compat.mlflow import quick_log_model
    from reprokit.models import get_model

    model_path = produced_file(execution, _model(execution))
    assert model_path is not None, "register_model checked it"
    learner = get_model(execution.config.model.kind)
    artifact = model_path.read_text(encoding="utf-8")
    flavour = learner.mlflow_flavour(artifact)
    # Registering a `models:/` source looks the logged model up through the global tracking
    # URI too, so both calls run inside the block.
    with fluent_tracking_uri(client.tracking_uri):
        with mlflow.start_run(run_id=run_id), quick_log_model():
            # The learner's MLflow flavour (its native format, no pickle).
            flavour_module = importlib.import_module(flavour.module)
            predictor = learner.load(artifact)
            info = flavour_module.log_model(
                flavour.model,
                signature=model_signature(predictor),
                input_example=input_example(execution, predictor.feature_names),
                **flavour.options,
            )
        version = client.create_model_version(
            name=_ensure_registered_model(client, name),
            source=info.model_uri,
            run_id=run_id,
            # A tracking server requires the logged model's id for a `models:/` source.
            model_id=info.model_id,
            tags=version_tags(execution, run_id, sha256),
            description=version_description(
                execution.fingerprint.value, execution.fingerprint.data_hashes, metrics, run_id
            ),
        )
    return str(version.version)


def version_tags(execution: Execution, run_id: str, sha256: str) -> dict[str, str]:
    """The tags a registered version starts with: the run and fingerprint it comes from and
    its model's bytes (`_version_with_sha256` finds a version by them)."""
    return {
        FINGERPRINT_TAG: execution.fingerprint.value,
        RUN_ID_TAG: run_id,
        MODEL_SHA256_TAG: sha256,
    }


# Rows of the test split in the logged model's input example: enough to show the features'
# form (codes, NaN for missing), few enough that the registry page stays small.
INPUT_EXAMPLE_ROWS = 5


def input_example(execution: Execution, feature_names: list[str]) -> Any | None:
    """The first rows of the test split as the model takes them (the fitted feature state
    applied), for the registry's "input example"; None when either file is missing."""
    from reprokit.config.roles import FEATURE_STATE, TEST_SPLIT, role_dataset
    from reprokit.nodes.features import transform_features

    catalog = execution.config.catalog
    paths = [
        _catalog_path(execution, role_dataset(catalog, role) or "")
        for role in (TEST_SPLIT, FEATURE_STATE)
    ]
    split, state = paths
    if split is None or state is None or not split.is_file() or not state.is_file():
        return None
    rows = _first_rows(split, INPUT_EXAMPLE_ROWS)
    fitted = json.loads(state.read_text(encoding="utf-8"))
    return transform_features(rows, fitted)[feature_names]


def _first_rows(path: Path, rows: int) -> Any:
    """The first `rows` rows of a pipeline table, without reading the rest of it."""
    from reprokit.io import read_table

    if path.suffix != ".parquet":
        return read_table(path).head(rows)
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    batches = list(itertools.islice(source.iter_batches(batch_size=rows), 1))
    return pa.Table.from_batches(batches, schema=source.schema_arrow).to_pandas()


def model_signature(predictor: Predictor) -> Any:
    """The logged model's signature (the registry's Inputs/Outputs): its feature columns,
    in order, as doubles, and the shape of what it predicts (one value per row, or one per
    class), read from a prediction of one all-zero row."""
    import numpy as np
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema, TensorSpec

    names = predictor.feature_names
    predicted = np.asarray(predictor.predict(np.zeros((1, len(names)))))
    shape = (-1, *predicted.shape[1:])
    return ModelSignature(
        inputs=Schema([ColSpec("double", name) for name in names]),
        outputs=Schema([TensorSpec(np.dtype("float64"), shape)]),
    )


def _version_with_sha256(client: Any, name: str, sha256: str) -> str | None:
    """The oldest version of `name` registered with exactly these model bytes."""
    versions = client.search_model_versions(
        f"name = '{name}' and tags.`{MODEL_SHA256_TAG}` = '{sha256}'"
    )
    numbers = sorted(int(version.version) for version in versions)
    return str(numbers[0]) if numbers else None


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
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def _candidate(version: str, run: Any, metric: str) -> Candidate:
    tags = run.data.tags
    return Candidate(
        version=version,
        value=run.data.metrics.get(metric),
        test_split_md5=tags.get(TEST_SPLIT_TAG),
        evaluation_hash=tags.get(EVALUATION_TAG),
    )


def promotion_rule(config: ReprokitConfig) -> PromotionRule:
    metric, direction = config.tracking.promotion.resolved(config.data.task)
    return PromotionRule(
        metric,
        "minimize" if direction == "minimize" else "maximize",
        config.tracking.promotion.min_improvement,
    )


def _apply_promotion_rule(
    client: Any, name: str, version: str, execution: Execution, metrics: Mapping[str, float]
) -> Decision:
    rule = promotion_rule(execution.config)
    tags = output_tags(execution)
    challenger = Candidate(
        version=version,
        value=metrics.get(rule.metric),
        test_split_md5=tags.get(TEST_SPLIT_TAG),
        evaluation_hash=tags.get(EVALUATION_TAG),
    )
    current = _champion(client, name)
    champion = (
        None
        if current is None
        else _candidate(str(current.version), client.get_run(current.run_id), rule.metric)
    )
    decision = decide(challenger, champion, rule)
    if decision.action == "promote":
        promote(client, name, version, decision.reason)
    elif decision.action == "refuse":
        client.set_model_version_tag(name, version, PROMOTION_REFUSED_TAG, decision.reason)
        log.warning(
            "registry.promotion_refused", model=name, version=version, reason=decision.reason
        )
    else:
        log.info("registry.champion_kept", model=name, version=version, reason=decision.reason)
    return decision


def promote(client: Any, name: str, version: str, reason: str) -> None:
    """Move `champion` to `version`, recording who/why on the version."""
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, PROMOTION_REASON_TAG, reason)
    log.info("registry.champion_moved", model=name, version=version, reason=reason)
