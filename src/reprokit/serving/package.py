"""`reprokit package`: the project's current outputs -> one BentoML model.

The model (`<project.name>-<data.name>`) holds the LightGBM text model, the fitted feature state
and the request schema (the training schema minus the target) as plain files; labels and
metadata say which execution produced it (fingerprint, MLflow run and registry version,
metrics), and which project it belongs to (project name, dataset and project instance: see
reprokit.serving.store, whose resolution serves only this project's models). Packaging the
same fingerprint and model file again in the same project returns the model already in the
store instead of piling up copies.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit.config.compose import Workspace
from reprokit.errors import ReprokitError
from reprokit.logs import get_logger
from reprokit.schemas import request_schema_spec
from reprokit.serving.bundle import MODEL_FILE, PROFILE_FILE, REQUEST_SCHEMA_FILE, STATE_FILE
from reprokit.serving.store import ProjectIdentity, project_identity

log = get_logger(__name__)

FINGERPRINT_SHORT = 12
# Kept in sync with reprokit.tracking.session (not imported: it pulls tracking code in).
FINGERPRINT_FILE = "data/08_reporting/fingerprint.json"
LAST_RUN_FILE = ".reprokit/last_run.json"


class PackageError(ReprokitError):
    """The outputs to package are missing or inconsistent."""


@dataclass(frozen=True)
class PackageResult:
    tag: str
    created: bool
    name: str
    fingerprint: str
    model_sha256: str


@dataclass(frozen=True)
class _Outputs:
    model: Path
    state: Path
    metrics: Path | None
    profile: Path | None


def _catalog_file(workspace: Workspace, dataset: str) -> Path | None:
    filepath = workspace.config.catalog.get(dataset, {}).get("filepath")
    return None if filepath is None else workspace.root / str(filepath)


def _outputs(workspace: Workspace) -> _Outputs:
    model, state = _catalog_file(workspace, "model"), _catalog_file(workspace, "feature_state")
    missing = [
        str(path) if path else name
        for name, path in (("model", model), ("feature_state", state))
        if path is None or not path.is_file()
    ]
    if missing or model is None or state is None:
        raise PackageError(
            f"nothing to package: {missing} missing; run `make repro` (or `reprokit run`) first"
        )
    profile = _catalog_file(workspace, "reference_profile")
    if profile is None or not profile.is_file():
        log.warning(
            "package.no_reference_profile",
            detail="packaging without a reference profile: the service will have no drift gauges",
        )
        profile = None
    return _Outputs(
        model=model, state=state, metrics=_catalog_file(workspace, "metrics"), profile=profile
    )


def _read_json(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    value = json.loads(path.read_text(encoding="utf-8"))
    return value if isinstance(value, dict) else None


def _fingerprint(workspace: Workspace) -> str:
    """The track stage's record, else recomputed from params.yaml, data and code."""
    recorded = _read_json(workspace.root / FINGERPRINT_FILE)
    if recorded and isinstance(recorded.get("value"), str):
        return str(recorded["value"])
    from reprokit.tracking.session import fingerprint_of

    return fingerprint_of(workspace.config, workspace.params, workspace.root).value


def _check_state_matches(workspace: Workspace, state: dict[str, Any]) -> None:
    """params.yaml must describe the outputs (e.g. not after `reprokit run experiment=...`)."""
    data = workspace.config.data
    columns = set(data.schema_.columns)
    unknown = sorted(set(state.get("input_columns", [])) - columns)
    if state.get("target") != data.target or state.get("task") != data.task or unknown:
        raise PackageError(
            f"the feature state (target {state.get('target')!r}, task {state.get('task')!r}) "
            f"does not match params.yaml (target {data.target!r}, task {data.task!r})"
            + (f"; columns not in data.schema: {unknown}" if unknown else "")
            + ": the outputs come from another config; run `make repro` first"
        )


def _run_record(workspace: Workspace, fingerprint: str, model_sha256: str) -> dict[str, Any]:
    """The MLflow run that recorded these outputs, when the last recorded run is theirs.

    The model's sha256 decides, not only the fingerprint: a `reprokit run` with overrides
    trains from a config that params.yaml (and so the recomputed fingerprint) never saw.
    """
    last = _read_json(workspace.root / LAST_RUN_FILE) or {}
    if last.get("model_sha256") != model_sha256 and last.get("fingerprint") != fingerprint:
        log.warning(
            "package.no_matching_run",
            detail="the last recorded MLflow run has another fingerprint; packaging without it",
        )
        return {}
    return last


def _metadata(workspace: Workspace, outputs: _Outputs, fingerprint: str) -> dict[str, Any]:
    from reprokit.tracking.fingerprint import file_sha256

    model_sha256 = file_sha256(outputs.model)
    run = _run_record(workspace, fingerprint, model_sha256)
    evaluation = workspace.params.get("evaluation") or {}
    metadata = {
        # The run's own fingerprint when it trained this model, else params.yaml's.
        "fingerprint": run.get("fingerprint") or fingerprint,
        "model_sha256": model_sha256,
        "mlflow_run_id": run.get("run_id"),
        "model_version": run.get("model_version"),
        "tracking_uri": run.get("tracking_uri"),
        "registered_model": workspace.config.tracking.registered_model,
        "metrics": _read_json(outputs.metrics) or {},
        "threshold": float(evaluation.get("threshold", 0.5)),
        "task": workspace.config.data.task,
        "target": workspace.config.data.target,
    }
    # BentoML refuses None values (no MLflow run, e.g. `tracking=none`): leave them out.
    return {key: value for key, value in metadata.items() if value is not None}


def _existing(project: ProjectIdentity, fingerprint: str, model_sha256: str) -> Any | None:
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        stored = bentoml.models.list(project.model_name)
    except NotFound:  # no model of that name yet
        return None
    for model in stored:
        metadata = model.info.metadata
        # Another copy of the project packaging the same model keeps its own.
        if not project.owns(str(model.tag), model.info.labels):
            continue
        if metadata.get("fingerprint") == fingerprint and (
            metadata.get("model_sha256") == model_sha256
        ):
            return model
    return None


def package(workspace: Workspace) -> PackageResult:
    """Save the current outputs as a BentoML model, or return the identical one stored."""
    import bentoml

    outputs = _outputs(workspace)
    state = json.loads(outputs.state.read_text(encoding="utf-8"))
    _check_state_matches(workspace, state)
    fingerprint = _fingerprint(workspace)
    metadata = _metadata(workspace, outputs, fingerprint)
    fingerprint = metadata["fingerprint"]
    from reprokit.tracking.store import store_root

    # A queued DVC experiment packages from a copy under .dvc/tmp/exps: it belongs to the
    # real project (the same rule as for its MLflow store).
    project = project_identity(
        workspace.config.project.name, workspace.config.data.name, store_root(workspace.root)
    )
    name = project.model_name
    identity = {"name": name, "fingerprint": fingerprint, "model_sha256": metadata["model_sha256"]}
    existing = _existing(project, fingerprint, metadata["model_sha256"])
    if existing is not None:
        return PackageResult(tag=str(existing.tag), created=False, **identity)
    data = workspace.config.data
    request_spec = request_schema_spec(data.schema_, data.target)
    labels = {
        "fingerprint": fingerprint[:FINGERPRINT_SHORT],
        "task": data.task,
        **project.labels(),  # project, data, project_id
    }
    with bentoml.models.create(name, labels=labels, metadata=metadata) as model:
        directory = Path(model.path)
        shutil.copyfile(outputs.model, directory / MODEL_FILE)
        shutil.copyfile(outputs.state, directory / STATE_FILE)
        if outputs.profile is not None:
            shutil.copyfile(outputs.profile, directory / PROFILE_FILE)
        (directory / REQUEST_SCHEMA_FILE).write_text(
            request_spec.model_dump_json(indent=2) + "\n", encoding="utf-8"
        )
    log.info("package.saved", tag=str(model.tag), fingerprint=fingerprint[:FINGERPRINT_SHORT])
    return PackageResult(tag=str(model.tag), created=True, **identity)
