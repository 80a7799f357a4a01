"""Declarative schema spec -> `pandera.pandas.DataFrameSchema`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandera.pandas as pa

from reprokit.config.models import ColumnSpec, SchemaSpec

# Declared bound -> Pandera check factory. Kept as data so the mapping is visible at a glance.
_BOUND_CHECKS: dict[str, Callable[..., pa.Check]] = {
    "ge": pa.Check.ge,
    "gt": pa.Check.gt,
    "le": pa.Check.le,
    "lt": pa.Check.lt,
}


def as_schema_spec(spec: SchemaSpec | Mapping[str, Any]) -> SchemaSpec:
    """Accept the typed spec or its plain-dict form (as Kedro passes params)."""
    return spec if isinstance(spec, SchemaSpec) else SchemaSpec.model_validate(spec)


# The name of the check that rejects +inf/-inf (nulls are not its business).
FINITE_CHECK = "finite"


def is_float_dtype(dtype: str) -> bool:
    return dtype.lower().startswith("float")


def _finite(series: Any) -> Any:
    return ~np.isinf(series.astype("float64"))


def _column_checks(column: ColumnSpec) -> list[pa.Check]:
    checks = [
        factory(getattr(column, bound))
        for bound, factory in _BOUND_CHECKS.items()
        if getattr(column, bound) is not None
    ]
    if column.isin is not None:
        checks.append(pa.Check.isin(column.isin))
    if is_float_dtype(column.dtype) and not column.allow_infinite:
        checks.append(pa.Check(_finite, name=FINITE_CHECK))
    return checks


def build_column(column: ColumnSpec) -> pa.Column:
    """One declared column as a Pandera column (dtype, nullability, uniqueness, checks)."""
    return pa.Column(
        column.dtype,
        checks=_column_checks(column),
        nullable=column.nullable,
        unique=column.unique,
        coerce=column.coerce,
    )


def build_schema(spec: SchemaSpec | Mapping[str, Any], *, name: str) -> pa.DataFrameSchema:
    """Build the Pandera schema; `strict` rejects (True) or drops ("filter") extra columns."""
    schema_spec = as_schema_spec(spec)
    return pa.DataFrameSchema(
        {column: build_column(col) for column, col in schema_spec.columns.items()},
        strict=schema_spec.strict,
        name=name,
    )


def request_schema_spec(spec: SchemaSpec | Mapping[str, Any], target: str) -> SchemaSpec:
    """The serving request schema: the training schema without the target column."""
    schema_spec = as_schema_spec(spec)
    columns = {name: col for name, col in schema_spec.columns.items() if name != target}
    return schema_spec.model_copy(update={"columns": columns})
