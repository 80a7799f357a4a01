"""The project's schema, role columns and task for a table, from Pandera's inference.

`pandera.infer_schema` gives each column's dtype, nullability and observed range; this
module turns that into `data.schema` columns (reprokit.config.models.ColumnSpec's keys):
ranges widened by a margin (new data a little outside the sample still passes), `isin`
for text columns with few values, `unique` for the id column. Pure: frames in, dicts out.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import pandera.pandas as pa

from reprokit.errors import ReprokitError

Task = Literal["binary", "multiclass", "regression"]

# Observed ranges are widened by this share of their span on each side.
RANGE_MARGIN = 0.1
# A text column with at most this many distinct values gets `isin` (a category list).
MAX_ISIN_VALUES = 20
# An integer or text target with at most this many classes is multiclass, not regression.
MAX_CLASSES = 20
_ID_NAME = re.compile(r"(^|[_\W])id$|^id([_\W]|$)|^(key|uuid|index)$", re.IGNORECASE)
# Names of keys whose rows belong together (a customer's, a store's rows): a group column.
_GROUP_NAME = re.compile(
    r"(^|[_\W])(id|key|group|groupe|gruppe|grp|cluster|batch|subject|patient|user|customer|client|store|"
    r"shop|branch|site|household|session|account|device)s?([_\W]|$)",
    re.IGNORECASE,
)
# A group split needs groups for train, valid and test; fewer and it is not proposed.
MIN_GROUPS = 10


class ScaffoldError(ReprokitError):
    """`reprokit new` cannot build a config from the file: names the file or column."""


@dataclass(frozen=True)
class Roles:
    """The columns that are never features, with why each was chosen (for the comments)."""

    id_column: str | None
    timestamp_column: str | None
    group_column: str | None = None


def project_dtype(inferred: str) -> str:
    """The schema's dtype name for one Pandera dtype (`str` for every text dtype)."""
    lowered = inferred.lower()
    if lowered.startswith("datetime64"):
        return "datetime64[ns]"
    if lowered in {"object", "string", "str"} or lowered.startswith("string"):
        return "str"
    if lowered == "boolean":
        return "bool"
    return lowered


def _round_out(value: float, up: bool) -> float:
    """`value` rounded away from the data to 3 significant digits (readable bounds)."""
    if value == 0 or not math.isfinite(value):
        return value
    step = 10 ** (math.floor(math.log10(abs(value))) - 2)
    rounded = (math.ceil if up else math.floor)(value / step) * step
    return float(f"{rounded:.12g}")


def widened(low: float, high: float, integer: bool) -> tuple[float, float]:
    """[low, high] widened by RANGE_MARGIN of the span (of the magnitude for one value);
    a non-negative column stays non-negative (counts, amounts), integers stay integers."""
    margin = RANGE_MARGIN * ((high - low) or abs(high) or 1.0)
    lower, upper = low - margin, high + margin
    if low >= 0:
        lower = max(lower, 0.0)
    if integer:
        return float(math.floor(lower)), float(math.ceil(upper))
    return _round_out(lower, up=False), _round_out(upper, up=True)


def _bounds(column: pa.Column) -> tuple[float, float] | None:
    statistics = {
        name: value for check in column.checks for name, value in check.statistics.items()
    }
    if "min_value" not in statistics or "max_value" not in statistics:
        return None
    low, high = statistics["min_value"], statistics["max_value"]
    if isinstance(low, pd.Timestamp) or isinstance(high, pd.Timestamp):
        return None  # date ranges: the schema's bounds are numbers
    return float(low), float(high)


def _number(value: float, integer: bool) -> float | int:
    return int(value) if integer or value.is_integer() else value


def column_spec(column: pa.Column, values: pd.Series, *, categories: bool) -> dict[str, Any]:
    """One `data.schema` column for Pandera's inferred `column` over `values`.

    `categories`: give a text column with few distinct values an `isin` list."""
    dtype = project_dtype(str(column.dtype))
    spec: dict[str, Any] = {"dtype": dtype}
    if column.nullable:
        spec["nullable"] = True
    if dtype.startswith("datetime"):
        spec["coerce"] = True
    bounds = _bounds(column)
    if bounds is not None and dtype.startswith(("int", "float")):
        integer = dtype.startswith("int")
        low, high = widened(*bounds, integer=integer)
        spec["ge"], spec["le"] = _number(low, integer), _number(high, integer)
    distinct = values.dropna().unique()
    if categories and dtype == "str" and len(distinct) <= MAX_ISIN_VALUES:
        spec["isin"] = sorted(str(value) for value in distinct)
    return spec


def schema_columns(
    frame: pd.DataFrame, target: str, id_column: str | None, keys: tuple[str, ...] = ()
) -> dict[str, Any]:
    """`data.schema.columns` for `frame`, from `pandera.infer_schema`.

    The id column is `unique`; neither it nor the `keys` (a group column) gets a range or
    a value list: new ids and groups arrive with new data."""
    inferred = pa.infer_schema(frame)
    columns: dict[str, Any] = {}
    for name, column in inferred.columns.items():
        values = frame[name]
        spec = column_spec(column, values, categories=True)
        if name == id_column:
            spec = {"dtype": spec["dtype"], "unique": True}
        elif name in keys:
            spec = {"dtype": spec["dtype"]}
        columns[str(name)] = spec
    return columns


def with_target_classes(columns: dict[str, Any], target: str, frame: pd.DataFrame) -> None:
    """A classification target's spec: its classes (`isin`) instead of a range."""
    spec = columns[target]
    for bound in ("ge", "le"):
        spec.pop(bound, None)
    if spec["dtype"] == "bool":
        return  # its two classes are the dtype's
    classes = frame[target].dropna().unique().tolist()
    spec["isin"] = (
        sorted(str(value) for value in classes)
        if spec["dtype"] == "str"
        else sorted(int(value) if float(value).is_integer() else value for value in classes)
    )


def infer_task(target: pd.Series) -> Task:
    """binary: two values; multiclass: a few (at most MAX_CLASSES) integer or text values;
    regression: floats, or integers with too many values to be classes."""
    distinct = target.dropna().unique()
    if len(distinct) == 2:
        return "binary"
    if pd.api.types.is_float_dtype(target):
        return "regression"
    if len(distinct) <= MAX_CLASSES:
        return "multiclass"
    if pd.api.types.is_integer_dtype(target):
        return "regression"
    raise ScaffoldError(
        f"target column {target.name!r} holds {len(distinct)} distinct text values: too many "
        f"classes to guess the task (at most {MAX_CLASSES}); pass --task multiclass to keep it"
    )


def _is_id_candidate(values: pd.Series) -> bool:
    integer = pd.api.types.is_integer_dtype(values)
    text = pd.api.types.is_string_dtype(values) or values.dtype == object
    return bool((integer or text) and values.notna().all() and values.is_unique)


def propose_roles(frame: pd.DataFrame, target: str) -> Roles:
    """An id column (unique text or increasing integers, an id-like name first; a unique
    integer column named like an id in any order), a timestamp column (the first parsed
    date column) and a group column (a repeated key named like one: `customer_id`,
    `store`); none of them when the table has none."""
    others = [str(name) for name in frame.columns if name != target]
    ids = [name for name in others if _is_id_candidate(frame[name])]
    named = [name for name in ids if _ID_NAME.search(name)]
    # A unique integer could be a feature (a measurement) unless it also counts up row by
    # row, as keys do; unique text rarely is a feature.
    keys = [
        name
        for name in ids
        if not pd.api.types.is_integer_dtype(frame[name]) or frame[name].is_monotonic_increasing
    ]
    id_column = next(iter(named or keys), None)
    if len(others) < 2:
        id_column = None  # the only column besides the target is the one feature
    dates = [
        name
        for name in others
        if pd.api.types.is_datetime64_any_dtype(frame[name]) and name != id_column
    ]
    timestamp = dates[0] if dates else None
    taken = {target, id_column, timestamp}
    groups = [name for name in others if name not in taken and _is_group_candidate(frame, name)]
    return Roles(
        id_column=id_column, timestamp_column=timestamp, group_column=next(iter(groups), None)
    )


def _is_group_candidate(frame: pd.DataFrame, name: str) -> bool:
    """A complete integer or text key, named like one, whose values repeat (rows that belong
    together) with at least MIN_GROUPS distinct values (enough to split by)."""
    values = frame[name]
    keyed = pd.api.types.is_integer_dtype(values) or pd.api.types.is_object_dtype(values)
    if not (keyed and _GROUP_NAME.search(name) and values.notna().all()):
        return False
    return MIN_GROUPS <= values.nunique() < len(values)


def check_target(target: str, columns: list[str], source: str) -> None:
    """The target is a column of the file, else an error with the closest name."""
    if target in columns:
        return
    close = difflib.get_close_matches(target, columns, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ScaffoldError(
        f"--target {target!r} is not a column of {source} (columns: {columns}){hint}"
    )
