"""The request schema's value checks compiled once into vectorised numpy checks.

Pandera costs about 70 % of a 1-row request (its per-call machinery, not the arithmetic),
so the service compiles the same Pandera schema that guards training data, at start-up,
into one small function per check: nullability, uniqueness, the bounds, the allowed sets
and the finite check. Each gives the failing rows exactly as Pandera's would: checks
ignore nulls (Pandera's `ignore_na`), uniqueness reports every copy of a repeated
non-null value (`duplicated(keep=False)`, nulls dropped from its failure cases), and the
comparisons are the same numpy/pandas operations on the same dtypes. The property tests
(tests/serving/test_request_fastcheck.py) hold the two to the same verdicts.

`compile_checks` answers None, with the reason, for a schema it cannot compile exactly (a
dtype the request path does not build itself, a check it does not know, a bound on a
string): the service then keeps running Pandera for that schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# Pandera's names for its column-level checks (the `check` of its failure cases).
NOT_NULLABLE = "not_nullable"
UNIQUE = "field_uniqueness"

# The dtypes the request path builds itself (reprokit.serving.request's builders), by the
# kind of values they hold. Any other dtype leaves Pandera its dtype check or coercion.
_KIND_OF_DTYPE = {
    "int64": "integer",
    "float64": "number",
    "str": "string",
    "bool": "boolean",
    "datetime64[ns]": "timestamp",
}
# Pandera's built-in comparisons: name -> (statistic, numpy comparison that passes).
_BOUNDS: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "greater_than_or_equal_to": ("min_value", np.greater_equal),
    "greater_than": ("min_value", np.greater),
    "less_than_or_equal_to": ("max_value", np.less_equal),
    "less_than": ("max_value", np.less),
}
# Which kinds each check is compiled for; elsewhere (a bound on a string) Pandera judges.
_NUMERIC = frozenset({"integer", "number"})
_ISIN_KINDS = frozenset({"integer", "number", "string", "boolean"})
_FINITE = "finite"

Values = np.ndarray[Any, Any]
# A compiled check: (values, their null mask) -> the mask of failing rows.
Failing = Callable[[Values, Values], Values]


@dataclass(frozen=True)
class Failure:
    """One check that failed: the column (None: the frame as a whole), Pandera's name for
    the check, the failing rows, and Pandera's failure cases where they are all there is
    (a frame-wide check, a whole column's dtype)."""

    column: str | None
    check: str
    rows: list[int]
    examples: tuple[Any, ...] = ()


@dataclass(frozen=True)
class _ColumnChecks:
    column: str
    nullable: bool
    checks: tuple[tuple[str, Failing], ...]


@dataclass(frozen=True)
class CompiledChecks:
    """The schema's checks per column; `failures(frame)` is Pandera's verdict on `frame`."""

    columns: tuple[_ColumnChecks, ...]

    def failures(self, columns: Mapping[str, Any] | pd.DataFrame) -> list[Failure]:
        """Every failed (column, check) with its rows, sorted as Pandera's failure cases
        are grouped (by column, then check name). `columns` (a frame, or the request
        path's arrays by name) holds the schema's columns with their declared dtypes."""
        found: list[Failure] = []
        for column in self.columns:
            values = np.asarray(columns[column.column])
            nulls = _null_mask(values)
            if not column.nullable and nulls.any():
                found.append(Failure(column.column, NOT_NULLABLE, _rows(nulls)))
            for name, failing in column.checks:
                mask = failing(values, nulls)
                if mask.any():
                    found.append(Failure(column.column, name, _rows(mask)))
        return sorted(found, key=lambda failure: (str(failure.column), failure.check))


def _rows(mask: Values) -> list[int]:
    return [int(row) for row in np.flatnonzero(mask)]


def _null_mask(values: Values) -> Values:
    """pandas' nulls (`isna`): NaN, NaT, None; int64 and bool columns hold none."""
    kind = values.dtype.kind
    if kind in "iub":
        return np.zeros(len(values), dtype=bool)
    if kind == "f":
        return np.isnan(values)
    if kind == "M":
        return np.isnat(values)
    return np.asarray(pd.isna(values), dtype=bool)


def _bound(compare: Callable[[Any, Any], Any], limit: Any) -> Failing:
    def failing(values: Values, nulls: Values) -> Values:
        with np.errstate(invalid="ignore"):
            passed = np.asarray(compare(values, limit), dtype=bool)
        return ~passed & ~nulls

    return failing


def _isin(allowed: Sequence[Any], kind: str) -> Failing:
    listed = list(allowed)
    exact = _exact_set(listed, kind)

    def failing(values: Values, nulls: Values) -> Values:
        if exact is not None:
            passed = np.isin(values, exact) if kind in _NUMERIC else _members(values, exact)
        else:
            # pandas' isin, as Pandera calls it, with its rules for mixed types.
            passed = pd.Series(values, copy=False).isin(listed).to_numpy()
        return ~passed & ~nulls

    return failing


# Integers numpy holds exactly as float64 too: an allowed set of them (or of floats) means
# the same to numpy's isin as to pandas' on an int64 or float64 column.
_EXACT_INT = 2**53


def _exact_set(listed: list[Any], kind: str) -> Any:
    """The allowed set in a form numpy or a Python set checks as pandas would, or None."""
    if kind in _NUMERIC and all(
        isinstance(value, float) or (type(value) is int and -_EXACT_INT <= value <= _EXACT_INT)
        for value in listed
    ):
        return np.asarray(listed, dtype=np.float64)
    if kind == "string" and all(type(value) is str for value in listed):
        return frozenset(listed)
    return None


def _members(values: Values, allowed: frozenset[str]) -> Values:
    return np.fromiter((value in allowed for value in values), dtype=bool, count=len(values))


def _finite(values: Values, nulls: Values) -> Values:
    return np.isinf(values.astype(np.float64)) & ~nulls


def _unique(values: Values, nulls: Values) -> Values:
    if len(values) < 2:
        return np.zeros(len(values), dtype=bool)
    repeated = pd.Series(values, copy=False).duplicated(keep=False).to_numpy()
    return repeated & ~nulls  # Pandera drops nulls from the failure cases


def _compiled_check(check: Any, kind: str) -> Failing | str:
    """The compiled form of one Pandera check of a `kind` column, or why there is none."""
    name = str(check.name)
    if check.groupby is not None or not check.ignore_na or check.element_wise:
        return f"check {name!r} has options the fast checker does not implement"
    if name in _BOUNDS and kind in _NUMERIC:
        statistic, compare = _BOUNDS[name]
        return _bound(compare, check.statistics[statistic])
    if name == "isin" and kind in _ISIN_KINDS:
        return _isin(check.statistics["allowed_values"], kind)
    if name == _FINITE and kind == "number":
        return _finite
    return f"check {name!r} on a {kind} column"


def check_label(check: Any) -> str:
    """The name Pandera gives a failed check in its failure cases: its error text for the
    built-in checks (`greater_than_or_equal_to(18.0)`), else its name (`finite`)."""
    return str(check.error) if check.error is not None else str(check.name)


def _compiled_column(name: str, column: Any, dtype: str) -> _ColumnChecks | str:
    kind = _KIND_OF_DTYPE.get(dtype)
    if kind is None:
        return f"column {name!r}: dtype {dtype} is not built by the request path"
    if column.dtype is not None or column.coerce or column.parsers or column.regex:
        return f"column {name!r}: Pandera still checks or converts its dtype"
    if column.unique and column.report_duplicates != "all":
        return f"column {name!r}: report_duplicates={column.report_duplicates!r}"
    checks: list[tuple[str, Failing]] = []
    for check in column.checks:
        compiled = _compiled_check(check, kind)
        if isinstance(compiled, str):
            return f"column {name!r}: {compiled}"
        checks.append((check_label(check), compiled))
    if column.unique:
        checks.append((UNIQUE, _unique))
    return _ColumnChecks(name, bool(column.nullable), tuple(checks))


def compile_checks(schema: Any, dtypes: Mapping[str, str]) -> tuple[CompiledChecks | None, str]:
    """The Pandera `schema`'s checks compiled, or (None, why not).

    `dtypes` are the columns' declared dtypes: the request schema drops Pandera's dtype
    check of the columns the request path builds exactly, so the schema no longer says."""
    if schema.checks or schema.unique or schema.parsers or schema.index is not None:
        return None, "the schema has frame-wide checks"
    columns: list[_ColumnChecks] = []
    for name, column in schema.columns.items():
        compiled = _compiled_column(name, column, dtypes.get(name, "").lower())
        if isinstance(compiled, str):
            return None, compiled
        columns.append(compiled)
    return CompiledChecks(tuple(columns)), ""
