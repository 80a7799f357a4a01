"""Helpers shared by the node modules: params parsing, column checks, message formatting."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, get_args

import numpy as np
import pandas as pd

from reprokit.config.models import Task

# Explicitly re-exported (mypy strict) for the node modules; it lives below the models.
from reprokit.config.sections import parse_section as parse_section  # noqa: PLC0414
from reprokit.errors import ConfigError, DataError

TASKS: tuple[str, ...] = get_args(Task)
PREVIEW_LIMIT = 5


def parse_task(task: str) -> Task:
    """Check `task` against the supported tasks (`data.task`)."""
    if task not in TASKS:
        raise ConfigError(f"data.task is {task!r}; expected one of {list(TASKS)}")
    return task  # type: ignore[return-value]


def require_columns(frame: pd.DataFrame, columns: Iterable[str], dataset: str) -> None:
    """Raise `DataError` naming every column of `columns` that `frame` lacks."""
    missing = [column for column in dict.fromkeys(columns) if column not in frame.columns]
    if missing:
        raise DataError(
            f"{dataset}: {len(missing)} required column(s) missing: {missing}; "
            f"the frame has {len(frame.columns)} column(s): {list(frame.columns)}"
        )


def require_rows(frame: pd.DataFrame, dataset: str) -> None:
    """Raise `DataError` when `frame` has no rows."""
    if frame.empty:
        raise DataError(f"{dataset}: the frame has 0 rows; expected at least 1")


def preview(values: Iterable[Any], limit: int = PREVIEW_LIMIT) -> str:
    """At most `limit` values for an error message, with a marker when there are more."""
    items = list(values)
    shown = ", ".join(repr(to_python(value)) for value in items[:limit])
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return f"[{shown}{more}]"


def to_python(value: Any) -> Any:
    """A numpy scalar as the Python scalar it holds (JSON and repr friendly)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def as_float(values: pd.Series, column: str, dataset: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A column as float64, missing values as NaN; non-numeric values are a `DataError`."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        # Already numbers (or booleans): nothing to parse or reject, one conversion. The
        # serving path calls this per column per request, where the general path's
        # to_numeric + isna + notna cost more than the whole LightGBM predict.
        return np.asarray(values.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64)
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        raise DataError(
            f"{dataset}: column {column!r} has {int(bad.sum())} non-numeric value(s) "
            f"{preview(values[bad].unique())}; expected numbers"
        )
    return np.asarray(converted.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64)


def jsonable(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy of `mapping` with numpy scalars turned into Python scalars."""
    return {key: to_python(value) for key, value in mapping.items()}
