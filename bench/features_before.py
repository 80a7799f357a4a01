"""The feature transform as it was before the fast paths (main at e8d298d), kept only as the
reference `bench_features.py` times and tests/nodes/test_feature_speed.py compares against.

Verbatim copies of the old functions the fast paths replaced; what they kept as their
general path (`_date_parts`, `_encode_categories`, unchanged since) and the fitted state are
imported from `reprokit.nodes.features`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from reprokit.config.models import DerivedFeature, LogFeature, RatioFeature
from reprokit.errors import DataError
from reprokit.nodes import portable_math
from reprokit.nodes._common import as_float, preview, require_columns, to_python
from reprokit.nodes.features import (
    ClassLabel,
    FeatureState,
    Float64Array,
    _date_parts,
    _encode_categories,
    parse_state,
)


def transform_features(frame: pd.DataFrame, state: Mapping[str, Any]) -> pd.DataFrame:
    fitted = parse_state(state)
    columns: dict[str, Any] = {}
    if fitted.id_column is not None and fitted.id_column in frame.columns:
        columns[fitted.id_column] = frame[fitted.id_column].reset_index(drop=True)
    columns.update(_feature_columns(frame, fitted))
    if fitted.target in frame.columns:
        columns[fitted.target] = _encode_target(frame[fitted.target], fitted)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))


def transform_matrix(frame: pd.DataFrame, state: FeatureState) -> Float64Array:
    columns = _feature_columns(frame, state)
    matrix = np.empty((len(frame), len(state.feature_names)), dtype=np.float64)
    for position, name in enumerate(state.feature_names):
        matrix[:, position] = columns[name]
    return matrix


def _feature_columns(frame: pd.DataFrame, fitted: FeatureState) -> dict[str, Float64Array]:
    require_columns(frame, fitted.input_columns, "transform input")
    columns: dict[str, Float64Array] = {}
    for column in fitted.numeric:
        columns[column] = as_float(frame[column], column, "transform input")
    for column, categories in fitted.categorical.items():
        columns[column] = _encode_categories(
            frame[column],
            column,
            categories,
            fitted.folded_categories.get(column, []),
            fitted.unseen_category,
        )
    for item in fitted.derived:
        columns.update(_derive(frame, item))
    return columns


def _derive(frame: pd.DataFrame, item: DerivedFeature) -> dict[str, Float64Array]:
    dataset = "transform input"
    if isinstance(item, RatioFeature):
        numerator = as_float(frame[item.numerator], item.numerator, dataset)
        denominator = as_float(frame[item.denominator], item.denominator, dataset)
        usable = np.isfinite(denominator) & (denominator != 0)
        ratio = np.full(len(frame), np.nan)
        np.divide(numerator, denominator, out=ratio, where=usable)
        return {item.name: ratio}
    if isinstance(item, LogFeature):
        values = as_float(frame[item.column], item.column, dataset)
        non_negative = np.where(values >= 0, values, np.nan)
        return {item.name: portable_math.log1p(non_negative)}
    return _date_parts(frame[item.column], item)


def class_codes(values: pd.Series, classes: Sequence[ClassLabel]) -> np.ndarray[Any, Any]:
    mapping = {label: code for code, label in enumerate(classes)}
    return values.map(lambda value: mapping.get(to_python(value), -1)).to_numpy(dtype=np.int64)


def _encode_target(values: pd.Series, state: FeatureState) -> np.ndarray[Any, Any]:
    target = state.target
    missing = int(values.isna().sum())
    if missing:
        raise DataError(
            f"transform input: target {target!r} has {missing} missing value(s); expected "
            "none (drop the target column for unlabelled rows)"
        )
    if state.classes is None:
        return as_float(values, target, "transform input")
    codes = class_codes(values, state.classes)
    unknown = codes < 0
    if unknown.any():
        raise DataError(
            f"transform input: target {target!r} has {int(unknown.sum())} row(s) with "
            f"value(s) {preview(sorted(set(values[unknown].tolist()), key=str))} not among the "
            f"train classes {state.classes}"
        )
    return codes
