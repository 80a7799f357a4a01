"""The packaged pipeline: the learner's native model text + feature state + request schema,
all plain files (never pickle), and the one prediction path every caller shares (the service, batch
`reprokit predict`, the benchmarks).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reprokit.config.models import SchemaSpec
from reprokit.errors import ReprokitError
from reprokit.models import Predictor, load_model
from reprokit.nodes.features import FeatureState, parse_state, transform_matrix

MODEL_FILE = "model.txt"
STATE_FILE = "feature_state.json"
REQUEST_SCHEMA_FILE = "request_schema.json"
BUNDLE_FILES = (MODEL_FILE, STATE_FILE, REQUEST_SCHEMA_FILE)
# The training reference profile (reprokit.nodes.profile) for live drift gauges; optional,
# so models packaged before it existed still load.
PROFILE_FILE = "reference_profile.json"
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class ModelInfo:
    """What a response and an access log say about the model that answered."""

    tag: str
    fingerprint: str | None = None
    model_version: str | None = None
    mlflow_run_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "fingerprint": self.fingerprint,
            "model_version": self.model_version,
            "mlflow_run_id": self.mlflow_run_id,
        }


@dataclass
class Bundle:
    """A loaded package, ready to score validated frames."""

    predictor: Predictor
    state: FeatureState
    state_dict: dict[str, Any]
    request_spec: SchemaSpec
    info: ModelInfo
    threshold: float = DEFAULT_THRESHOLD
    num_threads: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] | None = None


def load_bundle(
    directory: Path,
    info: ModelInfo,
    metadata: Mapping[str, Any] | None = None,
    num_threads: int = 1,
) -> Bundle:
    """Load the three packaged files from `directory` (a BentoML model's path)."""
    missing = [name for name in BUNDLE_FILES if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"model {info.tag} at {directory} lacks {missing}")
    state_dict = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    state = parse_state(state_dict)
    spec = SchemaSpec.model_validate_json((directory / REQUEST_SCHEMA_FILE).read_text("utf-8"))
    try:
        predictor = load_model(
            (directory / MODEL_FILE).read_text(encoding="utf-8"), state.feature_names
        )
    except ReprokitError as error:
        raise ValueError(f"model {info.tag}: {error}") from None
    meta = dict(metadata or {})
    profile_path = directory / PROFILE_FILE
    profile = (
        json.loads(profile_path.read_text(encoding="utf-8")) if profile_path.is_file() else None
    )
    return Bundle(
        predictor=predictor,
        state=state,
        state_dict=state_dict,
        request_spec=spec,
        info=info,
        threshold=float(meta.get("threshold", DEFAULT_THRESHOLD)),
        num_threads=num_threads,
        metadata=meta,
        profile=profile,
    )


def feature_matrix(bundle: Bundle, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
    """The model's input for a validated frame: the training features, as float64."""
    return transform_matrix(frame, bundle.state)


def predict_matrix(bundle: Bundle, matrix: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The model's output for a feature matrix (rows are independent: a matrix stacked from
    several requests gives each row the same output as alone)."""
    return bundle.predictor.predict(matrix, num_threads=bundle.num_threads)


def raw_predictions(bundle: Bundle, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
    """The model's output for a validated frame: one `predict` call for the whole batch."""
    return predict_matrix(bundle, feature_matrix(bundle, frame))


def prediction_values(bundle: Bundle, raw: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """One number per row for the prediction-distribution metric: the positive class's
    probability (binary), the predicted label's probability (multiclass), or the value."""
    if raw.ndim == 2:
        return np.asarray(raw.max(axis=1), dtype=np.float64)
    return raw


def format_predictions(bundle: Bundle, raw: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
    """Raw outputs as JSON-ready records: class probabilities and label, or a value."""
    state = bundle.state
    if state.task == "regression" or state.classes is None:
        return [{"value": float(value)} for value in raw.tolist()]
    classes = state.classes
    if state.task == "binary":
        positive = raw.tolist()
        return [
            {
                "probabilities": {str(classes[0]): 1.0 - p, str(classes[1]): p},
                "label": classes[1] if p >= bundle.threshold else classes[0],
            }
            for p in positive
        ]
    rows: Sequence[list[float]] = raw.tolist()
    return [
        {
            "probabilities": {str(label): p for label, p in zip(classes, probs, strict=True)},
            "label": classes[int(np.argmax(probs))],
        }
        for probs in rows
    ]


def predict_frame(bundle: Bundle, frame: pd.DataFrame) -> list[dict[str, Any]]:
    return format_predictions(bundle, raw_predictions(bundle, frame))
