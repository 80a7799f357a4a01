"""A batch before `reprokit monitor` compares it with the reference: the structure the
comparison needs, the model's output for it (read from the file or scored) and its encoded
labels. Pure functions of a DataFrame and the profile (no I/O)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from reprokit.errors import DataError
from reprokit.nodes._common import preview
from reprokit.nodes.features import class_codes
from reprokit.nodes.profile import PREDICTION, NumericProfile, ReferenceProfile

DATASET = "current data"


# --- structure: what must hold for the statistics to mean anything ------------------------


def check_structure(frame: pd.DataFrame, profile: ReferenceProfile, labels: str | None) -> None:
    """Raise `DataError` for zero rows, missing monitored columns or a numeric column
    holding text: the comparison cannot be made, which is not the same as "no drift"."""
    if len(frame) == 0:
        raise DataError(f"{DATASET}: the file has 0 rows; expected at least 1 row to monitor")
    needed = list(profile.columns) + ([labels] if labels else [])
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise DataError(
            f"{DATASET}: {len(missing)} column(s) the model's profile needs are missing: "
            f"{missing}; the file has {list(frame.columns)}"
        )
    for name, column in profile.columns.items():
        if not isinstance(column, NumericProfile):
            continue
        values = frame[name]
        converted = pd.to_numeric(values, errors="coerce")
        bad = converted.isna() & values.notna()
        if bad.any():
            raise DataError(
                f"{DATASET}: column {name!r} has {int(bad.sum())} non-numeric value(s) "
                f"{preview(values[bad].unique())}; expected numbers"
            )
        # Drift statistics bin the values: an infinite one has no bin (Evidently fails).
        infinite = np.isinf(converted.to_numpy(dtype=np.float64, na_value=np.nan))
        if infinite.any():
            raise DataError(
                f"{DATASET}: column {name!r} has {int(infinite.sum())} infinite value(s); "
                "drift cannot be measured on them: drop or replace those rows"
            )


# --- predictions ----------------------------------------------------------------------------


def prediction_columns(profile: ReferenceProfile) -> list[str]:
    """The columns `reprokit predict` writes that hold the model output monitored here."""
    if profile.task == "regression":
        return [PREDICTION]
    classes = profile.classes or []
    if profile.task == "binary":
        return [f"probability_{classes[1]}"]
    return [f"probability_{label}" for label in classes]


def given_predictions(
    frame: pd.DataFrame, profile: ReferenceProfile
) -> np.ndarray[Any, Any] | None:
    """The batch's own model output when it carries it (a scored file), else None."""
    columns = prediction_columns(profile)
    if not all(column in frame.columns for column in columns):
        return None
    raw = frame[columns].to_numpy(dtype=np.float64, na_value=np.nan)
    return raw[:, 0] if profile.task != "multiclass" else raw


def score(frame: pd.DataFrame, model: str, state: dict[str, Any]) -> np.ndarray[Any, Any]:
    """The model's raw output for the batch, with the training feature code."""
    from reprokit.models import load_model
    from reprokit.nodes.features import parse_state, transform_matrix

    # The features only: a label column in the batch is neither needed nor checked here.
    fitted = parse_state(state)
    return load_model(model, fitted.feature_names).predict(transform_matrix(frame, fitted))


# --- delayed labels --------------------------------------------------------------------


def encode_labels(
    values: pd.Series, profile: ReferenceProfile, column: str
) -> np.ndarray[Any, Any]:
    if values.isna().any():
        raise DataError(
            f"{DATASET}: label column {column!r} has {int(values.isna().sum())} missing "
            "value(s); expected a label on every row (drop unlabelled rows first)"
        )
    if profile.task == "regression" or profile.classes is None:
        return pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64)
    codes = class_codes(values, profile.classes)
    unknown = codes < 0
    if unknown.any():
        raise DataError(
            f"{DATASET}: label column {column!r} has {int(unknown.sum())} row(s) with values "
            f"{preview(sorted({str(v) for v in values[unknown]}))} not among the training "
            f"classes {profile.classes}"
        )
    return codes
