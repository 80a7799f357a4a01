"""The catalog validator: Kedro's `validator:` key instantiates `SchemaValidator(**options)`."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors
import pandera.pandas as pa

from reprokit.config.models import SchemaSpec
from reprokit.core.text import is_plain_text
from reprokit.errors import DataError
from reprokit.schemas.build import FINITE_CHECK, as_schema_spec, build_schema

# stdlib logging: reprokit.logs imports kedro, which the pure schema layer must not.
log = logging.getLogger(__name__)

MAX_EXAMPLES = 5
# Pandera's frame-level checks: their failure cases are column names, not row values.
FRAME_CHECKS = ("column_in_dataframe", "column_in_schema")


def describe_check(check: str) -> str:
    """Pandera's internal check names, phrased for a person reading an error."""
    readable = {
        "column_in_dataframe": "missing from the data (the schema requires it)",
        "column_in_schema": "not in the schema (unexpected extra column)",
        "field_uniqueness": "duplicate values where the schema requires unique ones",
        "not_nullable": "null values where the schema does not allow them",
        BOOLEAN_CHECK: "values that are not booleans (coercion would make each True); "
        "declare their spellings in data.read.true_values / data.read.false_values",
        FINITE_CHECK: "non-finite values (+inf/-inf); set `allow_infinite: true` on the "
        "column to allow them",
    }
    if check in readable:
        return readable[check]
    if is_dtype_check(check):
        expected = check.split("(", 1)[1].rstrip(")").strip("'\"")
        return f"wrong dtype, expected {expected}"
    return f"values failing {check}"


def is_dtype_check(check: str) -> bool:
    return check.startswith(("dtype(", "coerce_dtype("))


@dataclass(frozen=True)
class CheckFailure:
    """One (column, check) that failed: in how many rows (0: the whole column), and the
    distinct failure cases as `repr` strings, first seen first."""

    column: str
    check: str
    rows: int
    examples: tuple[str, ...]


def failure_lines(failures: Iterable[CheckFailure]) -> list[str]:
    """One line per failure: what failed, in how many rows, with example values.

    Value checks on a column whose dtype is already wrong only repeat that failure as
    type errors, so they are left out. The pandas validator and the Dask engine's
    per-partition one (counts summed) both report through this.
    """
    listed = list(failures)
    wrong_dtype = {failure.column for failure in listed if is_dtype_check(failure.check)}
    lines: list[str] = []
    for failure in listed:
        check = failure.check
        if failure.column in wrong_dtype and not is_dtype_check(check):
            continue
        if check in FRAME_CHECKS:
            lines.extend(f"column {name}: {describe_check(check)}" for name in failure.examples)
            continue
        rows = failure.rows
        row_text = f"{rows} bad row{'s' if rows != 1 else ''}" if rows else "whole column"
        examples = ", ".join(failure.examples[:MAX_EXAMPLES])
        what = f"{row_text}, {describe_check(check)}"
        lines.append(f"column {failure.column!r}: {what}; examples: [{examples}]")
    return lines


def summarize_failures(failure_cases: pd.DataFrame) -> list[str]:
    """`failure_lines` of Pandera's failure cases (one row per failing value)."""
    failures = []
    grouped = failure_cases.groupby(["column", "check"], dropna=False, sort=True)
    for (column, check), cases in grouped:
        values = cases["failure_case"]
        if check in FRAME_CHECKS:
            examples = tuple(repr(name) for name in sorted({str(value) for value in values}))
        else:
            examples = tuple(repr(value) for value in values.drop_duplicates().head(MAX_EXAMPLES))
        rows = int(cases["index"].dropna().nunique())
        failures.append(CheckFailure(str(column), str(check), rows, examples))
    return failure_lines(failures)


# Declared dtypes whose values are text categories.
TEXT_DTYPES = ("str", "string", "object", "category")
BOOLEAN_CHECK = "boolean_spelling"
# Values a bool column may hold before coercion (anything else is truthy to pandas, so
# "no" would become True).
_BOOLEAN_NUMBERS = (0, 1)


def _is_boolean(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return True
    return isinstance(value, int | float | np.integer | np.floating) and value in _BOOLEAN_NUMBERS


def boolean_failures(spec: SchemaSpec, data: pd.DataFrame) -> list[CheckFailure]:
    """Bool-declared columns holding values that are no boolean: pandas' coercion would
    make each of them True (`"no"` too), so they fail instead, with the values seen."""
    found: list[CheckFailure] = []
    for name, column in spec.columns.items():
        if column.dtype.lower() not in ("bool", "boolean") or name not in data.columns:
            continue
        values = data[name]
        if pd.api.types.is_bool_dtype(values):
            continue
        present = values.dropna()
        bad = present[[not _is_boolean(value) for value in present]]
        if len(bad):
            examples = sorted({repr(value) for value in bad.unique()})
            found.append(CheckFailure(name, BOOLEAN_CHECK, len(bad), tuple(examples)))
    return found


def category_variants(spec: SchemaSpec, data: pd.DataFrame) -> dict[str, list[list[str]]]:
    """Text columns whose distinct values collide once stripped of whitespace and
    case-folded ('basic' and 'Basic ') -> each group of colliding spellings."""
    found: dict[str, list[list[str]]] = {}
    for name, column in spec.columns.items():
        if column.dtype.lower() not in TEXT_DTYPES or name not in data.columns:
            continue
        groups: dict[str, set[str]] = {}
        # The distinct values first: a million-row dropna copy costs more than the check.
        # Missing values are no strings, so the isinstance test skips them all the same.
        for value in pd.unique(data[name]):
            if isinstance(value, str):
                groups.setdefault(value.strip().casefold(), set()).add(value)
        collisions = [sorted(group) for group in groups.values() if len(group) > 1]
        if collisions:
            found[name] = sorted(collisions)
    return found


def text_columns(spec: SchemaSpec, data: pd.DataFrame) -> list[str]:
    """The `str`-declared, uncoerced columns of `data` whose present values are all `str`:
    what Pandera's `str` dtype check accepts (strings or missing values), established by
    pandas' vectorised type inference instead of Pandera's per-row `isinstance`."""
    return [
        name
        for name, column in spec.columns.items()
        if column.dtype.lower() == "str"
        and not column.coerce
        and name in data.columns
        and is_plain_text(data[name])
    ]


class SchemaValidator:
    """Validates (and dtype-coerces) a dataset against its declared schema.

    Besides the column rules, it rejects an empty table and, for classification tasks,
    a target with a single class: both would train a meaningless model without failing.
    """

    def __init__(
        self,
        dataset: str,
        schema: Mapping[str, Any],
        target: str | None = None,
        task: str | None = None,
    ) -> None:
        self.dataset = dataset
        self.target = target
        self.task = task
        self.spec = as_schema_spec(schema)
        self.schema: pa.DataFrameSchema = build_schema(self.spec, name=dataset)
        self._without_dtype_checks: dict[frozenset[str], pa.DataFrameSchema] = {}

    def validate(self, data: pd.DataFrame) -> pd.DataFrame:
        """Return the validated frame or raise `DataError` describing every violation.

        Nothing changes silently: a bool column of other spellings than booleans is an
        error, categories that differ only by whitespace or case and each column `strict:
        filter` drops are logged as warnings."""
        if len(data) == 0:
            raise DataError(f"dataset {self.dataset!r} is empty: 0 rows (expected at least 1)")
        self._report(data)
        problems = failure_lines(boolean_failures(self.spec, data))
        validated = data
        try:
            target, inplace = self._target(data)
            validated = self._schema_for(data).validate(target, lazy=True, inplace=inplace)
        except pandera.errors.SchemaErrors as errors:
            problems += summarize_failures(errors.failure_cases)
        if problems:
            raise DataError(
                f"dataset {self.dataset!r} ({len(data)} rows) violates its schema "
                f"({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n  - "
                + "\n  - ".join(problems)
            ) from None
        self._require_two_classes(validated)
        return validated

    def _target(self, data: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
        """What Pandera validates and whether in place. Pandera's own copy duplicates every
        column (a million rows: ~0.4 s) only so that coercion leaves the caller's frame
        alone; a shallow copy validated in place does that too, as a column assigned on it
        replaces the copy's column only. Pandera deprecates in place with `strict: filter`,
        which keeps the deep copy."""
        if self.spec.strict == "filter":
            return data, False
        return data.copy(deep=False), True

    def _schema_for(self, data: pd.DataFrame) -> pa.DataFrameSchema:
        """The schema, minus the `str` dtype checks `text_columns` already proved: Pandera
        checks those with a Python call per row (a million rows: ~0.15 s per column)."""
        proven = frozenset(text_columns(self.spec, data))
        if not proven:
            return self.schema
        if proven not in self._without_dtype_checks:
            self._without_dtype_checks[proven] = self.schema.update_columns(
                {name: {"dtype": None} for name in proven}
            )
        return self._without_dtype_checks[proven]

    def _report(self, data: pd.DataFrame) -> None:
        for name, groups in category_variants(self.spec, data).items():
            log.warning(
                "dataset %r, column %r: categories %s differ only by whitespace or case; set "
                "data.read.strip_values and/or data.read.lowercase_values: true to make each "
                "one category",
                self.dataset,
                name,
                groups,
            )
        if self.spec.strict == "filter":
            for name in data.columns:
                if name not in self.spec.columns:
                    log.warning(
                        "dataset %r: column %r dropped, not in data.schema (strict: filter)",
                        self.dataset,
                        str(name),
                    )

    def _require_two_classes(self, data: pd.DataFrame) -> None:
        if self.task not in ("binary", "multiclass") or self.target not in data.columns:
            return
        classes = data[self.target].dropna().unique()
        if len(classes) < 2:
            raise DataError(
                f"dataset {self.dataset!r}: target column {self.target!r} has a single class "
                f"{classes.tolist()} in {len(data)} rows; a {self.task} task needs at least 2"
            )
