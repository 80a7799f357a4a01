"""`reprokit predict`: batch scoring with the service's code path (same schema, features,
model and output), from a CSV/Parquet file to a CSV/Parquet file written atomically."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from reprokit.errors import DataError
from reprokit.serving.bundle import Bundle, predict_frame
from reprokit.serving.request import RequestValidationError, validate_records

SUFFIXES = (".csv", ".parquet")


def _json_value(value: Any) -> Any:
    """A cell as the JSON value a client would send (what the service validates)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def frame_to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-like records, e.g. to send a stored split to the service."""
    columns = list(frame.columns)
    return [
        {str(column): _json_value(value) for column, value in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _read(path: Path, read: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The input read as the training data was: with the `data.read` options the model was
    packaged with (`read`, from its metadata; none: the defaults)."""
    from reprokit.io import read_table

    return read_table(path, read)


def _flatten(predictions: list[dict[str, Any]]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for prediction in predictions:
        row = {f"probability_{k}": v for k, v in prediction.get("probabilities", {}).items()}
        if "label" in prediction:
            row["label"] = prediction["label"]
        if "value" in prediction:
            row["prediction"] = prediction["value"]
        rows.append(row)
    return pd.DataFrame(rows)


def score_file(bundle: Bundle, source: Path, target: Path, max_records: int) -> int:
    """Score every row of `source` into `target`; returns the row count."""
    from reprokit.datasets import atomic_path
    from reprokit.io.read import check_booleans

    if target.suffix not in SUFFIXES:
        raise DataError(f"{target}: expected a {' or '.join(SUFFIXES)} file")
    frame = _read(source, bundle.metadata.get("read"))
    booleans = [name for name, spec in bundle.request_spec.columns.items() if spec.dtype == "bool"]
    check_booleans(frame, booleans, bundle.metadata.get("read"), source)
    records = frame_to_records(frame.drop(columns=[bundle.state.target], errors="ignore"))
    try:
        validated = validate_records(records, bundle.request_spec, max_records)
    except RequestValidationError as error:
        lines = [
            f"{v.field or '(records)'}: {v.rule}: {v.message} (rows {v.rows[:10]})"
            for v in error.violations
        ]
        detail = "\n  - ".join(lines)
        raise DataError(f"{source} violates the model's input schema:\n  - {detail}") from None
    scored = _flatten(predict_frame(bundle, validated))
    id_column = bundle.state.id_column
    if id_column and id_column in frame.columns:
        scored.insert(0, id_column, frame[id_column].to_numpy())
    with atomic_path(target) as tmp:
        if target.suffix == ".parquet":
            scored.to_parquet(tmp, index=False)
        else:
            scored.to_csv(tmp, index=False)
    return len(scored)
