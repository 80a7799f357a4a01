"""`reprokit package`: the project's current outputs -> one BentoML model.

The model (`<project.name>-<data.name>`) holds the LightGBM text model, the fitted feature state
and the request schema (the training schema minus the target) as plain files; labels and
metadata say which execution produced it (fingerprint, MLflow run and registry version,
metrics), and which project it belongs to (project name, dataset and project instance: see
reprokit.serving.store, whose resolution serves only this project's models). Packaging the
same model from the same run again in the same project returns the model already in the
store instead of piling up copies.

Only a model a recorded, gate-passing run produced ships: the run is found in the tracking
store by the model file's sha256 (`tags.rk.model_sha256`), must be FINISHED with
`rk.quality_gate = passed`, and must have produced the feature state and profile
bundled with it; its identity (run id, registry version, fingerprint, metrics) is copied,
never params.yaml's. `.reprokit/last_run.json` only says which of several such runs to
prefer. With tracking off there is no run to vouch for the model: packaging refuses unless
`--untracked` says so explicitly, and the model's metadata then says `untracked`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprokit.config.compose import Workspace
from reprokit.config.roles import (
    FEATURE_STATE,
    MODEL,
    REFERENCE_PROFILE,
    required_dataset,
    role_dataset,
)
from reprokit.errors import ReprokitError
from reprokit.logs import get_logger
from reprokit.schemas import request_schema_spec
from reprokit.serving.bundle import MODEL_FILE, PROFILE_FILE, REQUEST_SCHEMA_FILE, STATE_FILE
from reprokit.serving.store import ProjectIdentity, project_identity

if TYPE_CHECKING:
    from reprokit.serving.recorded_run import RecordedRun

log = get_logger(__name__)

FINGERPRINT_SHORT = 12


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


def _catalog_file(workspace: Workspace, dataset: str | None) -> Path | None:
    filepath = workspace.config.catalog.get(dataset or "", {}).get("filepath")
    return None if filepath is None else workspace.root / str(filepath)


def _role_file(workspace: Workspace, role: str) -> Path | None:
    """The file of the catalog dataset with `role` (reprokit.config.roles), if declared."""
    return _catalog_file(workspace, role_dataset(workspace.config.catalog, role))


def _outputs(workspace: Workspace) -> _Outputs:
    model, state = _role_file(workspace, MODEL), _role_file(workspace, FEATURE_STATE)
    missing = [
        str(path) if path else name
        for name, path in ((MODEL, model), (FEATURE_STATE, state))
        if path is None or not path.is_file()
    ]
    if missing or model is None or state is None:
        raise PackageError(
            f"nothing to package: {missing} missing; run `make repro` (or `reprokit run`) first"
        )
    profile = _role_file(workspace, REFERENCE_PROFILE)
    if profile is None or not profile.is_file():
        log.warning(
            "package.no_reference_profile",
            detail="packaging without a reference profile: the service will have no drift gauges",
        )
        profile = None
    return _Outputs(
        model=model,
        state=state,
        metrics=_catalog_file(workspace, workspace.config.tracking.metrics),
        profile=profile,
    )


def _read_json(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    value = json.loads(path.read_text(encoding="utf-8"))
    return value if isinstance(value, dict) else None


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


def _metadata(workspace: Workspace, run: RecordedRun | None, model_sha256: str) -> dict[str, Any]:
    evaluation = workspace.params.get("evaluation") or {}
    metadata: dict[str, Any] = {
        "model_sha256": model_sha256,
        "registered_model": workspace.config.tracking.registered_model,
        "threshold": float(evaluation.get("threshold", 0.5)),
        "task": workspace.config.data.task,
        "target": workspace.config.data.target,
    }
    # The read options the model was trained with: `reprokit predict` reads its input so.
    read = workspace.config.data.read.model_dump(exclude_defaults=True)
    if read:
        metadata["read"] = read
    if run is None:
        from reprokit.tracking.session import fingerprint_of

        # Nobody recorded this model: params.yaml's fingerprint is all there is, and the
        # metadata says so rather than pass for a tracked model.
        fingerprint = fingerprint_of(workspace.config, workspace.params, workspace.root)
        metadata.update(untracked=True, fingerprint=fingerprint.value, metrics={})
    else:
        metadata.update(
            fingerprint=run.fingerprint,
            mlflow_run_id=run.run_id,
            model_version=run.model_version,
            tracking_uri=run.tracking_uri,
            metrics=run.metrics,
            quality_gate="passed",
        )
    # BentoML refuses None values (no registered model): leave them out.
    return {key: value for key, value in metadata.items() if value is not None}


def _labels(
    project: ProjectIdentity, workspace: Workspace, metadata: Mapping[str, Any]
) -> dict[str, str]:
    labels = {
        "fingerprint": str(metadata["fingerprint"])[:FINGERPRINT_SHORT],
        "task": workspace.config.data.task,
        **project.labels(),  # project, data, project_id
    }
    if metadata.get("untracked"):
        labels["untracked"] = "true"
    for key in ("mlflow_run_id", "model_version"):
        if key in metadata:
            labels[key] = str(metadata[key])
    return labels


IDENTITY_KEYS = ("fingerprint", "model_sha256", "mlflow_run_id", "model_version", "untracked")


def _existing(project: ProjectIdentity, metadata: Mapping[str, Any]) -> Any | None:
    """This project copy's stored model with the same bytes and the same lineage, if any."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        stored = bentoml.models.list(project.model_name)
    except NotFound:  # no model of that name yet
        return None
    for model in stored:
        # Another copy of the project packaging the same model keeps its own.
        if not project.owns(str(model.tag), model.info.labels):
            continue
        if all(model.info.metadata.get(key) == metadata.get(key) for key in IDENTITY_KEYS):
            return model
    return None


def package(workspace: Workspace, *, untracked: bool = False) -> PackageResult:
    """Save the current outputs as a BentoML model, or return the identical one stored.

    Raises:
        PackageError: Nothing to package, outputs of another config, or (unless
            `untracked`) no FINISHED, gate-passing run of this project produced them.
    """
    import bentoml

    from reprokit.core.content.files import file_sha256

    outputs = _outputs(workspace)
    state = json.loads(outputs.state.read_text(encoding="utf-8"))
    _check_state_matches(workspace, state)
    model_sha256 = file_sha256(outputs.model)
    run = None if untracked else _vouching_run(workspace, outputs, model_sha256)
    metadata = _metadata(workspace, run, model_sha256)
    fingerprint = str(metadata["fingerprint"])
    from reprokit.tracking.store import store_root

    # A queued DVC experiment packages from a copy under .dvc/tmp/exps: it belongs to the
    # real project (the same rule as for its MLflow store).
    project = project_identity(
        workspace.config.project.name, workspace.config.data.name, store_root(workspace.root)
    )
    name = project.model_name
    identity = {"name": name, "fingerprint": fingerprint, "model_sha256": model_sha256}
    existing = _existing(project, metadata)
    if existing is not None:
        return PackageResult(tag=str(existing.tag), created=False, **identity)
    data = workspace.config.data
    request_spec = request_schema_spec(data.schema_, data.target)
    labels = _labels(project, workspace, metadata)
    with bentoml.models.create(name, labels=labels, metadata=metadata) as model:
        directory = Path(model.path)
        shutil.copyfile(outputs.model, directory / MODEL_FILE)
        shutil.copyfile(outputs.state, directory / STATE_FILE)
        if outputs.profile is not None:
            shutil.copyfile(outputs.profile, directory / PROFILE_FILE)
        (directory / REQUEST_SCHEMA_FILE).write_text(
            request_spec.model_dump_json(indent=2) + "\n", encoding="utf-8"
        )
    log.info(
        "package.saved",
        tag=str(model.tag),
        fingerprint=fingerprint[:FINGERPRINT_SHORT],
        run_id=metadata.get("mlflow_run_id"),
        untracked=bool(metadata.get("untracked")),
    )
    return PackageResult(tag=str(model.tag), created=True, **identity)


def _vouching_run(workspace: Workspace, outputs: _Outputs, model_sha256: str) -> RecordedRun:
    if not workspace.config.tracking.enabled:
        raise PackageError(
            f"tracking is off in params.yaml (tracking.enabled: false): no recorded run can "
            f"vouch for {outputs.model} (sha256 {model_sha256[:12]}), so it is not packaged; "
            "enable tracking and rerun the pipeline, or `reprokit package --untracked` to "
            "package it marked as untracked"
        )
    from reprokit.serving.recorded_run import find_vouching_run

    # Keyed by dataset name: the run's tag for each is `output_sha256_key` of it (rk.sha.*).
    catalog = workspace.config.catalog
    bundled = {required_dataset(catalog, FEATURE_STATE): outputs.state}
    if outputs.profile is not None:
        bundled[required_dataset(catalog, REFERENCE_PROFILE)] = outputs.profile
    return find_vouching_run(workspace, model_sha256, bundled, outputs.model)
