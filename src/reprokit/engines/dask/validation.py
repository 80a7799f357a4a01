"""Pandera validation of a Dask DataFrame: each partition on the cluster, counts summed.

Every partition is validated lazily with the same declared schema as the pandas engine;
only a small per-partition report (bad-row counts and a few example values per column and
check) comes back to the client. Uniqueness is the one rule a partition cannot judge
alone, so it is checked over the whole table with a distributed value count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from reprokit.config.models import SchemaSpec
from reprokit.engines.dask._api import compute
from reprokit.errors import DataError
from reprokit.logs import get_logger
from reprokit.schemas.build import as_schema_spec, build_schema
from reprokit.schemas.validator import (
    FRAME_CHECKS,
    MAX_EXAMPLES,
    CheckFailure,
    boolean_failures,
    describe_check,
    failure_lines,
)

log = get_logger(__name__)
REPORT_COLUMNS = ("column", "check", "rows", "examples", "partition_rows")
# Joins a partition's example values in one report cell (a character no repr contains).
EXAMPLE_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class ValidatedFrame:
    """A validated Dask DataFrame with its exact shape (known from the validation pass),
    so hooks can read `shape` without computing the table again."""

    frame: Any
    shape: tuple[int, int]


def partition_spec(spec: SchemaSpec) -> SchemaSpec:
    """The schema each partition is checked against: uniqueness is checked globally."""
    columns = {
        name: column.model_copy(update={"unique": False}) for name, column in spec.columns.items()
    }
    return spec.model_copy(update={"columns": columns})


def partition_report(frame: pd.DataFrame, spec: Mapping[str, Any]) -> pd.DataFrame:
    """One row per (column, check) failing in this partition, plus a row-count row."""
    import pandera.errors

    schema = build_schema(spec, name="partition")
    rows: list[dict[str, Any]] = [
        {"column": "", "check": "", "rows": 0, "examples": "", "partition_rows": len(frame)}
    ]
    rows.extend(
        {
            "column": failure.column,
            "check": failure.check,
            "rows": failure.rows,
            "examples": EXAMPLE_SEPARATOR.join(failure.examples),
            "partition_rows": 0,
        }
        for failure in boolean_failures(as_schema_spec(spec), frame)
    )
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        grouped = cases.groupby(["column", "check"], dropna=False, sort=True)
        for (column, check), group in grouped:
            examples = group["failure_case"].drop_duplicates().head(MAX_EXAMPLES)
            rows.append(
                {
                    "column": str(column),
                    "check": str(check),
                    "rows": int(group["index"].dropna().nunique()),
                    "examples": EXAMPLE_SEPARATOR.join(repr(value) for value in examples.tolist()),
                    "partition_rows": 0,
                }
            )
    return pd.DataFrame(rows, columns=list(REPORT_COLUMNS)).astype(
        {"column": object, "check": object, "examples": object}
    )


def summarize(report: pd.DataFrame) -> list[str]:
    """The summed per-partition report as the pandas engine's lines: what, how many rows."""
    failures = report[report["check"] != ""]
    summed = []
    for (column, check), group in failures.groupby(["column", "check"], sort=True):
        examples = [part for text in group["examples"] for part in text.split(EXAMPLE_SEPARATOR)]
        if check in FRAME_CHECKS:
            examples = sorted(set(examples))
        summed.append(
            CheckFailure(
                str(column), str(check), int(group["rows"].sum()), tuple(dict.fromkeys(examples))
            )
        )
    return failure_lines(summed)


def duplicate_lines(frame: Any, spec: SchemaSpec) -> list[str]:
    """Columns declared `unique` holding duplicates anywhere in the table (distributed)."""
    unique = [name for name, column in spec.columns.items() if column.unique]
    unique = [name for name in unique if name in frame.columns]
    if not unique:
        return []
    counts = {
        name: frame[name].value_counts(split_out=max(frame.npartitions // 4, 1)) for name in unique
    }
    repeated = {name: values[values > 1] for name, values in counts.items()}
    # Small results: the repeated values (none in valid data), computed in one pass.
    (found,) = compute(
        {
            name: (values.sum(), values.head(MAX_EXAMPLES, npartitions=-1))
            for name, values in repeated.items()
        }
    )
    lines = []
    for name, (rows, head) in found.items():
        if int(rows):
            examples = [repr(value) for value in sorted(head.index.tolist())]
            lines.append(
                f"column {name!r}: {int(rows)} bad rows, {describe_check('field_uniqueness')}; "
                f"examples: [{', '.join(examples)}]"
            )
    return lines


def validate_frame(
    frame: Any,
    dataset: str,
    schema: Mapping[str, Any],
    target: str | None = None,
    task: str | None = None,
) -> ValidatedFrame:
    """Validate every partition (one distributed pass) and return the coerced frame, lazily.

    Raises:
        DataError: Like the pandas engine's validator: the table is empty, violates its
            schema (bad-row counts summed over partitions), or has a single target class.
    """
    spec = as_schema_spec(schema)
    per_partition = partition_spec(spec).model_dump(mode="json", by_alias=True)
    reports = frame.map_partitions(
        partition_report, per_partition, meta=_report_meta(), enforce_metadata=False
    )
    report, classes = compute(reports, _target_classes(frame, target, task))
    total = int(report["partition_rows"].sum())
    log.info("dask.validate", dataset=dataset, rows=total, partitions=frame.npartitions)
    if total == 0:
        raise DataError(f"dataset {dataset!r} is empty: 0 rows (expected at least 1)")
    problems = summarize(report) + duplicate_lines(frame, spec)
    if problems:
        raise DataError(
            f"dataset {dataset!r} ({total} rows, {frame.npartitions} partitions) violates its "
            f"schema ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n  - "
            + "\n  - ".join(problems)
        )
    if classes is not None and len(classes) < 2:
        raise DataError(
            f"dataset {dataset!r}: target column {target!r} has a single class "
            f"{list(classes)} in {total} rows; a {task} task needs at least 2"
        )
    full = build_schema(spec, name=dataset)
    partition_schema = build_schema(partition_spec(spec), name=dataset)
    meta = full.validate(frame._meta)
    coerced = frame.map_partitions(partition_schema.validate, meta=meta)
    return ValidatedFrame(coerced, (total, len(meta.columns)))


def _target_classes(frame: Any, target: str | None, task: str | None) -> Any:
    if task not in ("binary", "multiclass") or target is None or target not in frame.columns:
        return None
    return frame[target].dropna().drop_duplicates()


def _report_meta() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "column": pd.Series(dtype=object),
            "check": pd.Series(dtype=object),
            "rows": pd.Series(dtype="int64"),
            "examples": pd.Series(dtype=object),
            "partition_rows": pd.Series(dtype="int64"),
        }
    )
