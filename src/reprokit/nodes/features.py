"""Fit the feature state on the train split and apply it to any frame (training or serving).

The fitted state is a plain JSON-serialisable dict: serving loads it next to the LightGBM
model and calls `transform_features` with it, so the state must hold everything the
transform needs and nothing that only Python can read.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import model_validator

from reprokit.config.models import (
    DatePart,
    DatePartsFeature,
    DerivedFeature,
    FeaturesConfig,
    LogFeature,
    RatioFeature,
    SchemaSpec,
    StrictModel,
    Task,
)
from reprokit.core.text import is_plain_text
from reprokit.errors import DataError, LeakageError
from reprokit.nodes import portable_math
from reprokit.nodes._common import (
    as_float,
    parse_section,
    parse_task,
    preview,
    require_columns,
    require_rows,
    to_python,
)

FEATURE_STATE_VERSION = 1
OTHER = "__other__"
"""The reserved category for rare training values and (with `unseen_category: other`)
values never seen in training. It is always the last category, so its code is k-1."""

Float64Array = np.ndarray[Any, np.dtype[np.float64]]
ClassLabel = bool | int | float | str

_NUMERIC_DTYPE_PREFIXES = ("int", "uint", "float")
_CATEGORICAL_DTYPES = ("str", "string", "category", "object", "bool", "boolean")


class FeatureState(StrictModel):
    """The fitted feature state; `fit_feature_state` returns it dumped to a dict.

    `categorical` maps each categorical column to its categories (sorted training values,
    then `__other__`); a category's code is its position. `folded_categories` lists the
    training values folded into `__other__` for being rare (known, so never "unseen").
    `classes` holds the original target values; an encoded label is a position in it.
    """

    version: Literal[1]
    task: Task
    target: str
    id_column: str | None
    input_columns: list[str]
    numeric: list[str]
    categorical: dict[str, list[str]]
    folded_categories: dict[str, list[str]]
    unseen_category: Literal["other", "error"]
    derived: list[DerivedFeature]
    classes: list[ClassLabel] | None
    feature_names: list[str]
    categorical_features: list[str]

    @model_validator(mode="after")
    def _consistent(self) -> FeatureState:
        if len(set(self.feature_names)) != len(self.feature_names):
            raise ValueError(f"feature_names has duplicates: {self.feature_names}")
        if not set(self.categorical_features) <= set(self.feature_names):
            raise ValueError("categorical_features must be a subset of feature_names")
        if (self.classes is None) != (self.task == "regression"):
            raise ValueError(f"classes must be set exactly for classification, task={self.task}")
        return self


# The arguments are bound by name from conf/pipeline (inputs + params), one per role.
def fit_feature_state(  # noqa: PLR0917
    train: pd.DataFrame,
    features: Mapping[str, Any],
    schema: Mapping[str, Any],
    target: str,
    task: str,
    id_column: str | None,
    timestamp_column: str | None,
    group_column: str | None,
) -> dict[str, Any]:
    """Fit the feature state on the train split.

    Args:
        train: The train split; it is not modified.
        features: The `features` params section (`FeaturesConfig`).
        schema: The declared data schema (`data.schema`); "auto" selects from its dtypes.
        target: The target column.
        task: `binary`, `multiclass` or `regression`.
        id_column: The id column, never a feature.
        timestamp_column: The timestamp column, never a feature itself (date parts may be).
        group_column: The group column, never a feature.

    Returns:
        The state as a JSON-serialisable dict (see `FeatureState`).

    Raises:
        DataError: A listed column is not in the schema or the frame, derived names
            collide, or the target does not fit the task.
        LeakageError: The target, id, timestamp or group column would be a feature.
    """
    config = parse_section(FeaturesConfig, features, "features")
    spec = parse_section(SchemaSpec, schema, "data.schema")
    parsed_task = parse_task(task)
    roles = {
        "target": target,
        "id_column": id_column,
        "timestamp_column": timestamp_column,
        "group_column": group_column,
    }
    reserved = {column: role for role, column in roles.items() if column is not None}

    numeric = _select(
        config.numeric,
        "numeric",
        spec=spec,
        reserved=reserved,
        exclude=config.exclude,
        matches=_is_numeric,
    )
    categorical = _select(
        config.categorical,
        "categorical",
        spec=spec,
        reserved=reserved,
        exclude=config.exclude,
        matches=is_categorical,
    )
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise DataError(f"features: column(s) {both} are listed as numeric and as categorical")
    _check_derived(config.derived, spec, reserved)
    derived_inputs = [column for item in config.derived for column in _derived_inputs(item)]
    input_columns = list(dict.fromkeys([*numeric, *categorical, *derived_inputs]))

    require_columns(train, [target, *input_columns], "train")
    require_rows(train, "train")
    derived_names = [name for item in config.derived for name in _derived_names(item)]
    feature_names = [*numeric, *categorical, *derived_names]
    _check_names(feature_names)

    categories: dict[str, list[str]] = {}
    folded: dict[str, list[str]] = {}
    for column in categorical:
        categories[column], folded[column] = _fit_categories(
            train[column], config.min_category_frequency
        )
    state = FeatureState(
        version=FEATURE_STATE_VERSION,
        task=parsed_task,
        target=target,
        id_column=id_column,
        input_columns=input_columns,
        numeric=numeric,
        categorical=categories,
        folded_categories=folded,
        unseen_category=config.unseen_category,
        derived=list(config.derived),
        classes=_fit_classes(train[target], target, parsed_task),
        feature_names=feature_names,
        categorical_features=categorical,
    )
    return state.model_dump(mode="json")


def transform_features(frame: pd.DataFrame, state: Mapping[str, Any]) -> pd.DataFrame:
    """Apply a fitted feature state to `frame` (a split or a serving request).

    Returns:
        The id column (when the state has one and `frame` carries it), then every feature
        in `feature_names` order as float64 (categoricals as codes, missing as NaN), then
        the encoded target when `frame` has it. The index is a fresh RangeIndex.

    Raises:
        DataError: An input column is missing or has values of the wrong kind, a category
            is unseen under `unseen_category: error`, or the target has unknown values.
    """
    fitted = parse_state(state)
    columns: dict[str, Any] = {}
    if fitted.id_column is not None and fitted.id_column in frame.columns:
        columns[fitted.id_column] = frame[fitted.id_column].reset_index(drop=True)
    columns.update(_feature_columns(frame, fitted))
    if fitted.target in frame.columns:
        columns[fitted.target] = _encode_target(frame[fitted.target], fitted)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))


def transform_matrix(frame: pd.DataFrame, state: FeatureState) -> Float64Array:
    """The model's input for `frame`: `transform_features`' features, as one float64 matrix.

    The same column code as `transform_features`, without building the frame: a serving
    request needs only the matrix, and a frame costs more than a small request's predict.
    """
    columns = _feature_columns(frame, state)
    matrix = np.empty((len(frame), len(state.feature_names)), dtype=np.float64)
    for position, name in enumerate(state.feature_names):
        matrix[:, position] = columns[name]
    return matrix


def _feature_columns(frame: pd.DataFrame, fitted: FeatureState) -> dict[str, Float64Array]:
    """Every feature of `frame` under the fitted state, as float64 arrays by name."""
    require_columns(frame, fitted.input_columns, "transform input")
    columns: dict[str, Float64Array] = {}
    for column in fitted.numeric:
        columns[column] = _numeric(frame, column)
    for column, categories in fitted.categorical.items():
        folded = fitted.folded_categories.get(column, [])
        codes = _fast_category_codes(
            _column_array(frame, column), categories, folded, fitted.unseen_category
        )
        # None: a dtype or state the fast path does not decide (or an unseen category
        # under `error`): the general path gives the answer, or the error, for every row.
        columns[column] = (
            codes
            if codes is not None
            else _encode_categories(
                frame[column], column, categories, folded, fitted.unseen_category
            )
        )
    for item in fitted.derived:
        columns.update(_derive(frame, item))
    return columns


def _column_array(frame: pd.DataFrame, column: str) -> Any:
    """`frame[column]`'s array (numpy or extension), or None (the callers then take the
    Series path) when the columns repeat a name or pandas lacks the accessor.

    pandas' own (private) column accessor: building the Series `frame[column]` of a fresh
    1-row frame (every serving request's) costs about 20 times more than reading its array,
    more than all the feature arithmetic. tests/nodes/test_feature_nodes.py notices if a
    pandas upgrade removes it.
    """
    get_array: Callable[[int], Any] | None = getattr(frame, "_get_column_array", None)
    if get_array is None or not frame.columns.is_unique:
        return None
    position = frame.columns.get_loc(column)  # an int: the names are unique
    return get_array(int(position))  # type: ignore[arg-type]


def _numeric(frame: pd.DataFrame, column: str) -> Float64Array:
    """A numeric input as float64 (`as_float`'s values), straight from a numpy column."""
    array = _column_array(frame, column)
    if isinstance(array, np.ndarray) and array.dtype.kind in "biuf":
        # The copy `as_float` makes (Series.to_numpy keeps NaN payloads as they are too).
        return array.astype(np.float64)
    return as_float(frame[column], column, "transform input")


def parse_state(state: Mapping[str, Any]) -> FeatureState:
    """Validate a feature state dict (e.g. loaded from JSON) into a `FeatureState`."""
    return parse_section(FeatureState, state, "feature_state")


def model_inputs(
    frame: pd.DataFrame, state: FeatureState, dataset: str
) -> tuple[Float64Array, np.ndarray[Any, Any]]:
    """The feature matrix and the encoded target of a transformed frame, for LightGBM."""
    require_columns(frame, [*state.feature_names, state.target], dataset)
    matrix = frame[state.feature_names].to_numpy(dtype=np.float64, na_value=np.nan)
    labels = frame[state.target].to_numpy()
    if state.task == "regression":
        return matrix, labels.astype(np.float64)
    return matrix, labels.astype(np.int64)


# --- column selection ---------------------------------------------------------------------


def _is_numeric(dtype: str) -> bool:
    return dtype.lower().startswith(_NUMERIC_DTYPE_PREFIXES)


def is_categorical(dtype: str) -> bool:
    """Whether `features.categorical: auto` selects a column of this declared dtype."""
    lowered = dtype.lower()
    return lowered in _CATEGORICAL_DTYPES or lowered.startswith(("string[", "category"))


def _select(
    declared: Literal["auto"] | list[str],
    kind: str,
    *,
    spec: SchemaSpec,
    reserved: Mapping[str, str],
    exclude: list[str],
    matches: Callable[[str], bool],
) -> list[str]:
    _require_schema_columns(exclude, "features.exclude", spec)
    if declared == "auto":
        return [
            column
            for column, column_spec in spec.columns.items()
            if matches(column_spec.dtype) and column not in reserved and column not in exclude
        ]
    _require_schema_columns(declared, f"features.{kind}", spec)
    leaking = {column: reserved[column] for column in declared if column in reserved}
    if leaking:
        raise LeakageError(
            f"features.{kind} lists {len(leaking)} reserved column(s) "
            f"{[f'{column} ({role})' for column, role in leaking.items()]}; the target, id, "
            "timestamp and group columns must never be features"
        )
    return [column for column in dict.fromkeys(declared) if column not in exclude]


def _require_schema_columns(columns: list[str], key: str, spec: SchemaSpec) -> None:
    unknown = [column for column in columns if column not in spec.columns]
    if unknown:
        raise DataError(
            f"{key} names {len(unknown)} column(s) not in data.schema: {unknown}; "
            f"schema columns: {list(spec.columns)}"
        )


def _check_names(feature_names: list[str]) -> None:
    duplicates = sorted(name for name, count in Counter(feature_names).items() if count > 1)
    if duplicates:
        raise DataError(f"features: feature name(s) {duplicates} are produced more than once")
    if not feature_names:
        raise DataError(
            "features: no feature selected (numeric, categorical and derived are all empty); "
            "expected at least 1"
        )


# --- derived features ---------------------------------------------------------------------


def _derived_inputs(item: DerivedFeature) -> list[str]:
    if isinstance(item, RatioFeature):
        return [item.numerator, item.denominator]
    return [item.column]


def _derived_names(item: DerivedFeature) -> list[str]:
    if isinstance(item, DatePartsFeature):
        return [f"{item.name}_{part}" for part in item.parts]
    return [item.name]


def _check_derived(
    derived: list[DerivedFeature], spec: SchemaSpec, reserved: Mapping[str, str]
) -> None:
    for item in derived:
        inputs = _derived_inputs(item)
        _require_schema_columns(inputs, f"features.derived[{item.name}]", spec)
        # Date parts of the timestamp are fair game; anything computed from the target or
        # the row id is not.
        leaking = [c for c in inputs if reserved.get(c) in ("target", "id_column")]
        if leaking:
            raise LeakageError(
                f"features.derived[{item.name}] is computed from {leaking}, the target or id "
                "column; derived features must not use them"
            )
        clashing = [name for name in _derived_names(item) if name in spec.columns]
        if clashing:
            raise DataError(
                f"features.derived[{item.name}] produces {clashing}, which are already "
                "data.schema columns; choose another name"
            )


def _derive(frame: pd.DataFrame, item: DerivedFeature) -> dict[str, Float64Array]:
    if isinstance(item, RatioFeature):
        numerator = _numeric(frame, item.numerator)
        denominator = _numeric(frame, item.denominator)
        usable = np.isfinite(denominator) & (denominator != 0)
        ratio = np.full(len(frame), np.nan)
        np.divide(numerator, denominator, out=ratio, where=usable)
        return {item.name: ratio}
    if isinstance(item, LogFeature):
        values = _numeric(frame, item.column)
        # log1p is defined for x > -1, but the feature means "log of a non-negative amount":
        # negative inputs are data problems and become missing rather than a number.
        non_negative = np.where(values >= 0, values, np.nan)
        return {item.name: portable_math.log1p(non_negative)}
    array = _column_array(frame, item.column)
    # Naive timestamps only (a frame holds them as a DatetimeArray of a numpy dtype).
    if isinstance(getattr(array, "dtype", None), np.dtype) and array.dtype.kind == "M":
        stamps = np.asarray(array)
        # numpy's floor to the day overflows on the first day datetime64[ns] holds.
        if not (stamps < _FIRST_WHOLE_NS_DAY).any():
            return {f"{item.name}_{part}": _numpy_date_part(stamps, part) for part in item.parts}
    return _date_parts(frame[item.column], item)


_FIRST_WHOLE_NS_DAY = np.datetime64("1677-09-22", "ns")


def _numpy_date_part(stamps: np.ndarray[Any, Any], part: DatePart) -> Float64Array:
    """One date part of naive datetime64 values, as pandas' `.dt` gives it (NaT as NaN).

    Calendar arithmetic on numpy's own units: the `.dt` accessor costs about 0.15 ms per
    part on a 1-row request, ten times this. numpy's unit conversions floor, so dates
    before 1970 fall in the right day, month and year.
    """
    days = stamps.astype("datetime64[D]")
    if part == "year":
        value = stamps.astype("datetime64[Y]").astype(np.int64) + 1970
    elif part == "month":
        value = stamps.astype("datetime64[M]").astype(np.int64) % 12 + 1
    elif part == "day":
        value = (days - stamps.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    elif part == "dayofweek":
        value = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (Monday is 0)
    elif part == "dayofyear":
        value = (days - stamps.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1
    else:  # hour
        value = (stamps.astype("datetime64[h]") - days.astype("datetime64[h]")).astype(np.int64)
    parts = value.astype(np.float64)
    parts[np.isnat(stamps)] = np.nan
    return parts


def _date_parts(values: pd.Series, item: DatePartsFeature) -> dict[str, Float64Array]:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = values
    else:
        # Serving requests carry timestamps as strings; parse them the same way every time.
        stamps = pd.to_datetime(values, errors="coerce", format="ISO8601")
        bad = stamps.isna() & values.notna()
        if bad.any():
            raise DataError(
                f"transform input: column {item.column!r} has {int(bad.sum())} value(s) that "
                f"are not ISO 8601 timestamps {preview(values[bad].unique())}"
            )
    parts: dict[str, Float64Array] = {}
    for part in item.parts:
        extracted = getattr(stamps.dt, part)
        parts[f"{item.name}_{part}"] = np.asarray(
            extracted.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64
        )
    return parts


# --- categories ---------------------------------------------------------------------------


def as_labels(values: pd.Series) -> pd.Series:
    """Category labels are strings (JSON keys, stable across dtypes); missing stays missing."""
    if isinstance(values.dtype, pd.StringDtype):
        return values.astype(object)  # already strings: skip the per-value str() call
    return values.astype(object).map(str, na_action="ignore")


def _fit_categories(values: pd.Series, min_frequency: float) -> tuple[list[str], list[str]]:
    counts = as_labels(values).value_counts(dropna=True)
    return fold_categories(counts.to_dict(), len(values), min_frequency)


def fold_categories(
    counts: Mapping[Any, int], rows: int, min_frequency: float
) -> tuple[list[str], list[str]]:
    """A column's categories (sorted labels, then `__other__`) and the labels folded into
    `__other__`, from each label's count among `rows` train rows (however they were counted).
    """
    # The share is of all train rows (missing included), as "rare in the training split" reads.
    threshold = min_frequency * rows
    kept = sorted(str(label) for label, count in counts.items() if count >= threshold)
    folded = sorted(str(label) for label, count in counts.items() if count < threshold)
    return [label for label in kept if label != OTHER] + [OTHER], folded


def _encode_categories(
    values: pd.Series,
    column: str,
    categories: list[str],
    folded: list[str],
    unseen_policy: Literal["other", "error"],
) -> Float64Array:
    labels = as_labels(values).to_numpy(dtype=object)
    missing = pd.isna(labels)
    # object Indexes: pandas would otherwise convert both to its string dtype on every call
    known = pd.Index(np.where(missing, OTHER, labels), dtype=object)
    positions = pd.Index(categories, dtype=object).get_indexer(known)
    codes = positions.astype(np.float64)
    unknown = (codes < 0) & ~missing
    if unseen_policy == "error":
        unseen = unknown & ~known.isin(folded)
        if unseen.any():
            distinct = sorted(set(labels[unseen]))
            raise DataError(
                f"transform input: column {column!r} has {int(unseen.sum())} row(s) with "
                f"{len(distinct)} category value(s) never seen in the train split "
                f"{preview(distinct)}; expected one of {len(categories) - 1} known "
                "categories (features.unseen_category: error)"
            )
    codes[unknown] = categories.index(OTHER)
    codes[missing] = np.nan
    return codes


# Above this many rows a column is factorized first, so each distinct value is looked up
# once; below it, one dict lookup per row costs less than factorizing.
_FACTORIZE_ABOVE = 64
_UNKNOWN = -1.0


def _fast_category_codes(
    array: Any,
    categories: list[str],
    folded: list[str],
    unseen_policy: Literal["other", "error"],
) -> Float64Array | None:
    """`_encode_categories`' codes for a string, integer or boolean column, or None.

    The label of a value is `str(value)` (strings as they are), so the code is a function
    of the value; the fast path looks each distinct value up in a dict instead of mapping
    `str` over every row and building pandas Indexes per call. None (the caller then takes
    the general path) for any other dtype, a state whose categories repeat or lack
    `__other__`, and an unseen value under `unseen_category: error` (its message counts rows).
    """
    stringify = _stringify(array)
    lookup = _category_lookup(tuple(categories), tuple(folded))
    if stringify is None or lookup is None:
        return None
    if len(array) > _FACTORIZE_ABOVE:
        # Equal values have equal labels for these dtypes; missing values (position -1,
        # the same values pd.isna finds) take the NaN appended last.
        positions, uniques = pd.factorize(array)
        codes = np.append(_lookup_codes(uniques, lookup, stringify), np.nan)[positions]
    else:
        codes = _lookup_codes(array, lookup, stringify)
    unknown = codes == _UNKNOWN
    if unknown.any():
        if unseen_policy == "error":
            return None
        codes[unknown] = lookup[OTHER]
    return codes


def _stringify(array: Any) -> bool | None:
    """Whether labels need `str` (integers, booleans), not (strings), or None: another kind."""
    if isinstance(array, np.ndarray) and array.dtype.kind in "biu":
        return True
    if isinstance(getattr(array, "dtype", None), pd.StringDtype):
        return False
    if isinstance(array, np.ndarray) and array.dtype == object:
        # Only strings and missing values (as pd.isna reads them): then label == value.
        return False if is_plain_text(array) else None
    return None


@functools.lru_cache(maxsize=256)
def _category_lookup(
    categories: tuple[str, ...], folded: tuple[str, ...]
) -> Mapping[str, float] | None:
    """Each label's code: the categories' positions, folded labels at `__other__`'s (built
    once per fitted column, not per call; shared, so read-only). None when
    `_encode_categories` would not find categories by a unique position (repeated labels,
    or no `__other__`)."""
    if OTHER not in categories or len(set(categories)) != len(categories):
        return None
    other = float(categories.index(OTHER))
    lookup = dict.fromkeys(folded, other)
    lookup.update((label, float(code)) for code, label in enumerate(categories))
    return lookup


def _lookup_codes(values: Any, lookup: Mapping[str, float], stringify: bool) -> Float64Array:
    """Each value's code in `lookup`: NaN when missing, `_UNKNOWN` when not found."""
    if stringify:
        labels = (str(value) for value in np.asarray(values).tolist())
        return np.fromiter((lookup.get(label, _UNKNOWN) for label in labels), dtype=np.float64)
    return np.fromiter(
        (lookup.get(value, _UNKNOWN) if isinstance(value, str) else np.nan for value in values),
        dtype=np.float64,
    )


# --- target -------------------------------------------------------------------------------


def _fit_classes(values: pd.Series, target: str, task: Task) -> list[ClassLabel] | None:
    missing = int(values.isna().sum())
    if missing:
        raise DataError(f"train: target {target!r} has {missing} missing value(s); expected none")
    if task == "regression":
        as_float(values, target, "train")
        return None
    present: list[ClassLabel] = [to_python(value) for value in values.unique()]
    try:
        ordered = sorted(present)
    except TypeError:
        raise DataError(
            f"train: target {target!r} mixes value types {preview(present)}; expected one type"
        ) from None
    if task == "binary":
        if all(value in (0, 1) for value in ordered):
            return [0, 1]
        if len(ordered) != 2:
            raise DataError(
                f"train: binary target {target!r} has {len(ordered)} distinct value(s) "
                f"{preview(ordered)}; expected 0/1 or exactly two values"
            )
        return ordered
    if len(ordered) < 2:
        raise DataError(
            f"train: multiclass target {target!r} has {len(ordered)} distinct value(s) "
            f"{preview(ordered)}; expected at least 2"
        )
    return ordered


def class_codes(values: pd.Series, classes: Sequence[ClassLabel]) -> np.ndarray[Any, Any]:
    """Each value's position in `classes` (the fitted class order), -1 for a value not
    among them; numpy scalars compare as the Python values the classes are stored as."""
    mapping = {label: code for code, label in enumerate(classes)}
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "biufO":
        # Each distinct value looked up once (factorize groups values Python finds equal,
        # so their lookups agree), not a Python call per row: 1 s at 1M rows otherwise.
        # A missing value (position -1) is never a class: the -1 appended last.
        positions, uniques = pd.factorize(values.to_numpy())
        table = np.fromiter(
            (mapping.get(to_python(value), -1) for value in uniques), dtype=np.int64
        )
        return np.append(table, -1)[positions]
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
