"""The run's artifacts the reproduction needs, downloaded and checked against its tags."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit.config.roles import MODEL, params_dataset
from reprokit.core.content.files import file_sha256
from reprokit.core.names import FINGERPRINT_TAG, MODEL_SHA256_TAG
from reprokit.errors import ConfigError
from reprokit.tracking.runs import (
    COMPOSED_CONFIG,
    CorruptArtifactError,
    RecordedRun,
    RunError,
    download_artifact,
    parse_composed_config,
)

FINGERPRINT_ARTIFACT = "fingerprint.json"


@dataclass(frozen=True)
class Recorded:
    """The run's artifacts that the reproduction needs, downloaded."""

    params: dict[str, Any]
    model: Path
    metrics: Path


def artifact_path(params: Mapping[str, Any], dataset: str) -> str:
    """The artifact path under which the store logs a catalog file: `<dataset>/<file name>`."""
    filepath = ((params.get("catalog") or {}).get(dataset) or {}).get("filepath")
    if not filepath:
        raise ConfigError(f"the run's config declares no `catalog.{dataset}.filepath`")
    return f"{dataset}/{Path(str(filepath)).name}"


def model_dataset(params: Mapping[str, Any], run_id: str) -> str:
    """The model's dataset in a run's recorded config (found by its role)."""
    return params_dataset(params, MODEL, f"the catalog of MLflow run {run_id}'s config")


def metrics_dataset(params: Mapping[str, Any]) -> str:
    return str((params.get("tracking") or {}).get("metrics") or "metrics")


def check_finished(run: RecordedRun) -> None:
    if run.status != "FINISHED":
        raise RunError(
            f"run {run.run_id} is {run.status}: only a FINISHED run has a model and metrics "
            "to compare"
        )
    if run.tag(MODEL_SHA256_TAG) is None:
        raise RunError(f"run {run.run_id} recorded no model (no tag `{MODEL_SHA256_TAG}`)")


def check_model_artifact(run: RecordedRun, model: Path) -> None:
    """A model artifact that differs from its recorded hash cannot be a reference."""
    recorded, actual = run.tag(MODEL_SHA256_TAG), file_sha256(model)
    if actual != recorded:
        raise CorruptArtifactError(
            f"the model artifact of run {run.run_id} is corrupt: its sha256 is {actual}, the "
            f"run recorded {recorded} (tag {MODEL_SHA256_TAG})"
        )


def check_fingerprint_artifact(run: RecordedRun, path: Path) -> None:
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("value")
    except (ValueError, AttributeError):
        value = None
    if value != run.tag(FINGERPRINT_TAG):
        raise CorruptArtifactError(
            f"{FINGERPRINT_ARTIFACT} of run {run.run_id} does not hold the run's fingerprint "
            f"{run.tag(FINGERPRINT_TAG)} (found {value!r})"
        )


def download_recorded(client: Any, run: RecordedRun, destination: Path) -> Recorded:
    run_id = run.run_id
    config_file = download_artifact(client, run_id, COMPOSED_CONFIG, destination)
    params = parse_composed_config(config_file.read_text(encoding="utf-8"), run_id)
    fingerprint = download_artifact(client, run_id, FINGERPRINT_ARTIFACT, destination)
    check_fingerprint_artifact(run, fingerprint)
    return Recorded(
        params=params,
        model=download_artifact(
            client, run_id, artifact_path(params, model_dataset(params, run_id)), destination
        ),
        metrics=download_artifact(
            client, run_id, artifact_path(params, metrics_dataset(params)), destination
        ),
    )
