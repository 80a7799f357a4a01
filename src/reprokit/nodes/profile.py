"""The reference profile: what the training data and the model's predictions looked like.

Monitoring compares new data against this profile (`reprokit monitor`, the service's live
drift gauges), so it holds everything the comparison needs and nothing only Python can
read: per column, quantile cut points with the reference fraction of rows in each bin, a
compressed empirical CDF (for the KS statistic), category frequencies, the null rate and
the range; the distribution of the model's predictions; the declared data schema (for the
data-quality checks) and the model's test metrics (for the delayed-label check).

Features are profiled on the train split (the data the model learned from); predictions on
the held-out test split, because in-sample predictions are more confident than the model
ever is on new data and would make every fresh batch look drifted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from reprokit.config.models import MonitoringConfig, SchemaSpec, StrictModel, Task
from reprokit.core.text import is_plain_text
from reprokit.nodes._common import as_float, parse_section, require_columns, require_rows
from reprokit.nodes.features import FeatureState, model_inputs, parse_state
from reprokit.nodes.scoring import predict

PROFILE_VERSION = 1
PREDICTION = "prediction"
LABEL = "label"  # the encoded target in the reference sample (and the current batch's table)
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


class EmpiricalCdf(StrictModel):
    """F(x) = P(X <= x) of the reference at `values` (exact when the column has at most
    `cdf_points` distinct values, else at that many quantiles: error <= 1/cdf_points)."""

    values: list[float]
    probs: list[float]


class NumericProfile(StrictModel):
    kind: Literal["numeric"] = "numeric"
    rows: int
    null_rate: float
    min: float | None
    max: float | None
    mean: float | None
    # Bin i holds values in [cuts[i-1], cuts[i]); the first and last bins are open-ended,
    # so values outside the reference range still land in a bin.
    cuts: list[float]
    fractions: list[float]
    cdf: EmpiricalCdf


class CategoricalProfile(StrictModel):
    kind: Literal["categorical"] = "categorical"
    rows: int
    null_rate: float
    categories: list[str]
    fractions: list[float]


ColumnProfile = Annotated[NumericProfile | CategoricalProfile, Field(discriminator="kind")]


class ReferenceProfile(StrictModel):
    """The profile document (`reference_profile.json`)."""

    version: Literal[1]
    task: Task
    target: str
    model_sha256: str
    feature_rows: int
    prediction_rows: int
    bins: int
    columns: dict[str, ColumnProfile]
    prediction: ColumnProfile
    target_profile: ColumnProfile | None = None
    classes: list[Any] | None = None
    metrics: dict[str, float] = {}
    data_schema: SchemaSpec


# The arguments are bound by name from conf/pipeline (inputs + params), one per role.
def build_reference_profile(  # noqa: PLR0917
    train: pd.DataFrame,
    test_features: pd.DataFrame,
    model: str,
    state: Mapping[str, Any],
    metrics: Mapping[str, Any],
    schema: Mapping[str, Any],
    bins: int,
    cdf_points: int,
) -> dict[str, Any]:
    """Profile the train split's input columns and the model's predictions on the test split.

    Args:
        train: The train split as stored (raw columns, before feature transformation).
        test_features: The transformed test split (`transform_features` output).
        model: The model in its learner's native text format.
        state: The fitted feature state (which columns are numeric/categorical).
        metrics: The evaluation metrics of the model (kept as the delayed-label reference).
        schema: The declared data schema (`data.schema`), for the data-quality checks.
        bins: Quantile bins per numeric column (`monitoring.bins`).
        cdf_points: Support points of each stored CDF (`monitoring.cdf_points`).

    Returns:
        The profile as a JSON-serialisable dict (see `ReferenceProfile`).

    Raises:
        DataError: A split is empty or lacks a column, or a numeric column holds text.
    """
    fitted = parse_state(state)
    # Only the two keys that shape the profile are bound, so that changing a threshold
    # does not rerun the evaluate stage; they are validated like the whole section.
    config = parse_section(MonitoringConfig, {"bins": bins, "cdf_points": cdf_points}, "monitoring")
    spec = parse_section(SchemaSpec, schema, "data.schema")
    columns = monitored_columns(fitted)
    require_columns(train, columns, "train")
    require_rows(train, "train")
    require_rows(test_features, "test features")

    profiles: dict[str, ColumnProfile] = {}
    for column in fitted.numeric:
        profiles[column] = profile_numeric(
            as_float(train[column], column, "train"), config.bins, config.cdf_points
        )
    for column in fitted.categorical:
        profiles[column] = profile_categorical(train[column])

    matrix, labels = model_inputs(test_features, fitted, "test features")
    # The predictions `evaluate_model` made of the same split (computed here when not).
    raw = predict(model, fitted.feature_names, matrix)
    prediction = prediction_values(raw, fitted.task)
    if fitted.task == "multiclass":
        prediction_profile: ColumnProfile = profile_categorical(pd.Series(prediction))
    else:
        prediction_profile = profile_numeric(
            np.asarray(prediction, dtype=np.float64), config.bins, config.cdf_points
        )
    if fitted.task == "regression":
        target_profile: ColumnProfile = profile_numeric(
            labels.astype(np.float64), config.bins, config.cdf_points
        )
    else:
        target_profile = profile_categorical(pd.Series(labels.astype(np.int64)))

    profile = ReferenceProfile(
        version=PROFILE_VERSION,
        task=fitted.task,
        target=fitted.target,
        model_sha256=hashlib.sha256(model.encode("utf-8")).hexdigest(),
        feature_rows=len(train),
        prediction_rows=len(test_features),
        bins=config.bins,
        columns=profiles,
        prediction=prediction_profile,
        target_profile=target_profile,
        classes=fitted.classes,
        metrics={
            str(k): float(v)
            for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        },
        data_schema=spec,
    )
    return profile.model_dump(mode="json")


# The arguments are bound by name from conf/pipeline (inputs + params), one per role.
def sample_reference(  # noqa: PLR0917
    train: pd.DataFrame,
    test_features: pd.DataFrame,
    model: str,
    state: Mapping[str, Any],
    rows: int,
    seed: int,
) -> pd.DataFrame:
    """Evidently's reference table: n = min(`rows`, train rows, test rows) rows, drawn with
    `seed` and kept in split order. The monitored columns (numbers as float64, categories
    as text labels) are n train rows; `prediction` (as `prediction_values`) and `LABEL` (the
    encoded target, `label_values`) are the model's output and the truth on n held-out test
    rows, as in the profile: in-sample predictions are more confident than the model ever
    is on new data and would make every fresh batch look drifted. The two halves are
    paired by position only, so the table serves per-column comparisons (drift, summary)
    and the prediction-label pairs (performance), nothing across the halves.

    Raises:
        DataError: A split is empty or lacks a column, or a numeric column holds text.
    """
    fitted = parse_state(state)
    columns = monitored_columns(fitted)
    require_columns(train, columns, "train")
    require_rows(train, "train")
    require_rows(test_features, "test features")
    size = min(rows, len(train), len(test_features))
    generator = np.random.default_rng(seed)
    train_rows = np.sort(generator.choice(len(train), size=size, replace=False))
    test_rows = np.sort(generator.choice(len(test_features), size=size, replace=False))
    inputs = train.iloc[train_rows]
    table: dict[str, Any] = {}
    for column in fitted.numeric:
        table[column] = as_float(inputs[column], column, "train")
    for column in fitted.categorical:
        table[column] = category_labels(inputs[column]).astype(object).to_numpy()
    matrix, labels = model_inputs(test_features.iloc[test_rows], fitted, "test features")
    raw = predict(model, fitted.feature_names, matrix)
    table[PREDICTION] = prediction_values(raw, fitted.task)
    table[LABEL] = label_values(labels, fitted.task)
    return pd.DataFrame(table)


def label_values(codes: np.ndarray[Any, Any], task: str) -> np.ndarray[Any, Any]:
    """Labels as Evidently compares them with `prediction_values`: the class position (as
    text for multiclass, whose prediction is the class position as text), or the value."""
    if task == "multiclass":
        return np.asarray(codes, dtype=np.int64).astype(str).astype(object)
    if task == "binary":
        return np.asarray(codes, dtype=np.int64)
    return np.asarray(codes, dtype=np.float64)


def parse_profile(profile: Mapping[str, Any]) -> ReferenceProfile:
    """Validate a profile dict (e.g. loaded from JSON) into a `ReferenceProfile`."""
    return parse_section(ReferenceProfile, profile, "reference_profile")


def monitored_columns(state: FeatureState) -> list[str]:
    """The model's raw input columns that are features themselves. A timestamp used only
    for date parts is left out: new data is always newer, so it would always "drift"."""
    return [*state.numeric, *state.categorical]


def prediction_values(raw: np.ndarray[Any, Any], task: str) -> np.ndarray[Any, Any]:
    """The monitored prediction: P(positive class), the predicted value, or (multiclass)
    the predicted class position as text."""
    if task == "multiclass":
        matrix = raw.reshape(len(raw), -1) if raw.ndim == 1 else raw
        classes: np.ndarray[Any, Any] = matrix.argmax(axis=1).astype(str).astype(object)
        return classes
    return np.asarray(raw, dtype=np.float64).reshape(-1)


def profile_numeric(values: FloatArray, bins: int, cdf_points: int) -> NumericProfile:
    """Quantile bins (distinct cut points only, so discrete columns get one bin per value
    up to `bins`), the reference fraction per bin and a compressed CDF."""
    missing = np.isnan(values)
    present = np.sort(values[~missing])
    rows = len(values)
    null_rate = float(missing.mean()) if rows else 0.0
    if len(present) == 0:
        return NumericProfile(
            rows=rows,
            null_rate=null_rate,
            min=None,
            max=None,
            mean=None,
            cuts=[],
            fractions=[1.0],
            cdf=EmpiricalCdf(values=[], probs=[]),
        )
    levels = np.arange(1, bins) / bins
    # "inverted_cdf": cut points are observed values, which keeps discrete columns exact.
    cuts = np.unique(np.quantile(present, levels, method="inverted_cdf"))
    # A cut at the minimum would leave the first bin empty by construction.
    cuts = cuts[cuts > present[0]]
    counts = np.bincount(np.searchsorted(cuts, present, side="right"), minlength=len(cuts) + 1)
    return NumericProfile(
        rows=rows,
        null_rate=null_rate,
        min=float(present[0]),
        max=float(present[-1]),
        mean=float(present.mean()),
        cuts=[float(c) for c in cuts],
        fractions=[float(f) for f in counts / len(present)],
        cdf=compressed_cdf(present, cdf_points),
    )


def compressed_cdf(sorted_values: FloatArray, points: int) -> EmpiricalCdf:
    """The empirical CDF of sorted values at (at most) `points` support points."""
    distinct = sorted_distinct(sorted_values)
    if len(distinct) > points:
        levels = np.arange(1, points + 1) / points
        distinct = np.unique(np.quantile(sorted_values, levels, method="inverted_cdf"))
    probs = np.searchsorted(sorted_values, distinct, side="right") / len(sorted_values)
    return EmpiricalCdf(values=[float(v) for v in distinct], probs=[float(p) for p in probs])


def sorted_distinct(sorted_values: FloatArray) -> FloatArray:
    """`np.unique` of an already sorted array without its sort (a million values: ~0.1 s):
    the first of each run of equal values."""
    if len(sorted_values) == 0:
        return sorted_values.copy()
    starts = np.empty(len(sorted_values), dtype=bool)
    starts[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=starts[1:])
    return sorted_values[starts]


def category_labels(values: pd.Series) -> pd.Series:
    """Categories as strings (as the feature state keys them); missing stays missing."""
    if isinstance(values.dtype, pd.StringDtype):
        return values  # already strings: converting a million of them costs ~0.1 s
    if is_plain_text(values):
        return values  # text and missing values only (a Parquet file's text column): as is
    return values.astype(object).map(str, na_action="ignore")


def profile_categorical(values: pd.Series) -> CategoricalProfile:
    labels = category_labels(values)
    rows = len(labels)
    present = labels.dropna()
    counts = present.value_counts()
    categories = sorted(str(label) for label in counts.index)
    total = max(len(present), 1)
    return CategoricalProfile(
        rows=rows,
        null_rate=float(1.0 - len(present) / rows) if rows else 0.0,
        categories=categories,
        fractions=[float(counts[label] / total) for label in categories],
    )
