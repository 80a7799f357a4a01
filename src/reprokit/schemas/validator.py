"""The catalog validator: Kedro's `validator:` key instantiates `SchemaValidator(**options)`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pandera.errors
import pandera.pandas as pa

from reprokit.errors import DataError
from reprokit.schemas.build import build_schema

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
        self.schema: pa.DataFrameSchema = build_schema(schema, name=dataset)

    def validate(self, data: pd.DataFrame) -> pd.DataFrame:
        """Return the validated frame or raise `DataError` describing every violation."""
        if len(data) == 0:
            raise DataError(f"dataset {self.dataset!r} is empty: 0 rows (expected at least 1)")
        try:
            validated: pd.DataFrame = self.schema.validate(data, lazy=True)
        except pandera.errors.SchemaErrors as errors:
            problems = summarize_failures(errors.failure_cases)
            raise DataError(
                f"dataset {self.dataset!r} ({len(data)} rows) violates its schema "
                f"({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n  - "
                + "\n  - ".join(problems)
            ) from None
        self._require_two_classes(validated)
        return validated

    def _require_two_classes(self, data: pd.DataFrame) -> None:
        if self.task not in ("binary", "multiclass") or self.target not in data.columns:
            return
        classes = data[self.target].dropna().unique()
        if len(classes) < 2:
            raise DataError(
                f"dataset {self.dataset!r}: target column {self.target!r} has a single class "
                f"{classes.tolist()} in {len(data)} rows; a {self.task} task needs at least 2"
            )
