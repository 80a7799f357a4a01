"""The compiled request checks (reprokit.serving.fastcheck) against Pandera on the same input.

One schema: random schemas and random frames or JSON records (valid and not: wrong types,
nulls, bounds, sets, duplicates, NaN/inf, huge integers, dates), checked compiled and by
Pandera, must give the same verdict and the same violations.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import hypothesis
import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import strategies as st

from reprokit.config.models import SchemaSpec
from reprokit.schemas import SchemaValidator, request_schema_spec
from reprokit.serving.request import (
    Columns,
    RequestValidationError,
    request_checks,
    request_rows,
    schema_failures,
    validate_records,
)

ROOT = Path(__file__).resolve().parents[2]
DTYPES = ("int64", "float64", "str", "bool", "datetime64[ns]")
NAMES = ("a", "b", "c", "d")
SMALL = st.one_of(st.integers(-3, 3).map(float), st.floats(-3, 3, allow_nan=False))
TEXTS = st.sampled_from(["a", "b", "c", "", "é"])
STAMPS = st.sampled_from(["2024-03-01", "2024-03-01T10:00:00", "1999-12-31T23:59:59.5"])
SETTINGS = hypothesis.settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)


@st.composite
def column_spec(draw: st.DrawFn, dtype: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "dtype": dtype,
        "nullable": draw(st.booleans()),
        "unique": draw(st.booleans()),
    }
    if dtype in ("int64", "float64"):
        for bound in ("ge", "gt", "le", "lt"):
            spec[bound] = draw(st.none() | SMALL)
        allowed = st.integers(-3, 3) | SMALL
        spec["isin"] = draw(st.none() | st.lists(allowed, min_size=1, max_size=4))
    if dtype == "float64":
        spec["allow_infinite"] = draw(st.booleans())
    if dtype == "str":
        spec["isin"] = draw(st.none() | st.lists(TEXTS, min_size=1, max_size=3))
    if dtype == "bool":
        spec["isin"] = draw(st.none() | st.sampled_from([[True], [False], [0, 1], [1]]))
    return spec


@st.composite
def schema_specs(draw: st.DrawFn) -> SchemaSpec:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    columns = {name: draw(column_spec(draw(st.sampled_from(DTYPES)))) for name in names}
    return SchemaSpec.model_validate({"strict": True, "columns": columns})


def typed_values(dtype: str, rows: int) -> st.SearchStrategy[Any]:
    """A column as the request path builds it, nulls and extremes included."""
    if dtype == "int64":
        ints = st.integers(-3, 3) | st.integers(-(2**63), 2**63 - 1)
        return st.lists(ints, min_size=rows, max_size=rows).map(
            lambda values: np.asarray(values, dtype=np.int64)
        )
    if dtype == "float64":
        special = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308])
        floats = st.integers(-3, 3).map(float) | SMALL | special | st.floats()
        return st.lists(floats, min_size=rows, max_size=rows).map(
            lambda values: np.asarray(values, dtype=np.float64)
        )
    if dtype == "str":
        texts = st.none() | TEXTS | st.text(max_size=3)
        return st.lists(texts, min_size=rows, max_size=rows).map(
            lambda values: pd.Series(values, dtype="str")
        )
    if dtype == "bool":
        return st.lists(st.booleans(), min_size=rows, max_size=rows).map(np.asarray)
    stamps = st.none() | STAMPS | st.datetimes(pd.Timestamp.min, pd.Timestamp.max).map(str)
    return st.lists(stamps, min_size=rows, max_size=rows).map(
        lambda values: pd.Series([None if v is None else pd.Timestamp(v) for v in values]).astype(
            "datetime64[ns]"
        )
    )


@st.composite
def spec_and_frame(draw: st.DrawFn) -> tuple[SchemaSpec, pd.DataFrame]:
    spec = draw(schema_specs())
    rows = draw(st.integers(1, 8))
    columns = {
        name: draw(typed_values(column.dtype, rows)) for name, column in spec.columns.items()
    }
    return spec, pd.DataFrame(columns, index=pd.RangeIndex(rows))


def verdicts(frame: pd.DataFrame, spec: SchemaSpec, *, compiled: bool) -> list[Any]:
    failures = schema_failures(frame, spec, compiled=compiled)
    return [(failure.column, failure.check, failure.rows) for failure in failures]


@SETTINGS
@hypothesis.given(case=spec_and_frame())
def test_compiled_checks_fail_the_rows_pandera_fails(case: tuple[SchemaSpec, pd.DataFrame]) -> None:
    spec, frame = case
    assert request_checks(spec).compiled is not None, request_checks(spec).not_compiled
    assert verdicts(frame, spec, compiled=True) == verdicts(frame, spec, compiled=False)


def json_values(dtype: str) -> st.SearchStrategy[Any]:
    """What a client may send for a field of `dtype`: its values and everything else."""
    junk = st.none() | st.booleans() | st.text(max_size=3) | st.integers() | st.floats()
    right: dict[str, st.SearchStrategy[Any]] = {
        "int64": st.integers(-3, 3) | st.integers(2**62, 2**64),
        "float64": st.integers(-3, 3) | SMALL | st.integers(2**1023, 2**1025),
        "str": TEXTS,
        "bool": st.booleans(),
        "datetime64[ns]": STAMPS
        | st.sampled_from(["2024-02-30", "now", "0001-01-01", "9999-12-31T00:00:00"]),
    }
    return right[dtype] | right[dtype] | junk


@st.composite
def spec_and_records(draw: st.DrawFn) -> tuple[SchemaSpec, list[dict[str, Any]]]:
    spec = draw(schema_specs())
    record = st.fixed_dictionaries(
        {name: json_values(column.dtype) for name, column in spec.columns.items()}
    )
    return spec, draw(st.lists(record, min_size=1, max_size=6))


def outcome(records: Any, spec: SchemaSpec, *, compiled: bool = True) -> Any:
    try:
        return validate_records(records, spec, 100, compiled=compiled)
    except RequestValidationError as error:
        return error.as_dict()


def assert_same_outcome(got: Any, expected: Any) -> None:
    """The same frame (exactly), or the same 422 body."""
    if isinstance(expected, pd.DataFrame):
        assert isinstance(got, pd.DataFrame), got
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    else:
        assert got == expected


def as_columns(records: list[dict[str, Any]]) -> Columns:
    return Columns({name: [record[name] for record in records] for name in records[0]})


@SETTINGS
@hypothesis.given(case=spec_and_records())
def test_records_or_columns_get_the_same_answer_compiled_or_by_pandera(
    case: tuple[SchemaSpec, list[dict[str, Any]]],
) -> None:
    spec, records = case
    pandera = outcome(records, spec, compiled=False)
    assert_same_outcome(outcome(records, spec), pandera)
    assert_same_outcome(outcome(as_columns(records), spec), pandera)


def test_columns_missing_or_unexpected_name_every_row() -> None:
    spec = SchemaSpec.model_validate({"columns": {"x": {"dtype": "int64"}}})
    found = outcome(Columns({"y": [1, 2]}), spec)["violations"]
    assert [(v["field"], v["rule"], v["rows"]) for v in found] == [
        ("x", "required", [0, 1]),
        ("y", "unexpected_field", [0, 1]),
    ]


@pytest.mark.parametrize(
    ("columns", "rule"),
    [({"x": [1, 2], "y": [1]}, "column_lengths"), ({"x": []}, "min_records"), ({}, "min_records")],
)
def test_columns_of_no_rows_or_unequal_lengths(columns: dict[str, Any], rule: str) -> None:
    spec = SchemaSpec.model_validate(
        {"columns": {"x": {"dtype": "int64"}, "y": {"dtype": "int64"}}}
    )
    assert [v["rule"] for v in outcome(Columns(columns), spec)["violations"]] == [rule]


def test_a_body_takes_records_or_columns() -> None:
    assert request_rows([{}], None) == [{}]
    assert request_rows(None, {"x": [1]}) == Columns({"x": [1]})
    with pytest.raises(RequestValidationError, match="exactly one; got both"):
        request_rows([{}], {"x": [1]})
    with pytest.raises(RequestValidationError, match="exactly one; got neither"):
        request_rows(None, None)


@pytest.mark.parametrize("config", sorted((ROOT / "conf" / "data").glob("*.yaml")), ids=str)
def test_the_projects_request_schemas_compile(config: Path) -> None:
    data = yaml.safe_load(config.read_text())
    spec = request_schema_spec(data["schema"], data["target"])
    assert request_checks(spec).compiled is not None, request_checks(spec).not_compiled


def test_a_check_it_cannot_compile_leaves_the_schema_to_pandera() -> None:
    spec = SchemaSpec.model_validate(
        {"columns": {"kind": {"dtype": "str", "ge": 1}, "n": {"dtype": "int32"}}}
    )
    checks = request_checks(spec)
    assert checks.compiled is None
    assert "'kind'" in checks.not_compiled and "greater_than_or_equal_to" in checks.not_compiled


def test_repeated_nulls_in_a_unique_column_pass_as_in_training() -> None:
    # Pandera counts them as failing yet lists no failure case: the request was a 422 with
    # no violation at all, while training data with the same nulls passes the schema.
    spec = SchemaSpec.model_validate(
        {"columns": {"age": {"dtype": "float64", "nullable": True, "unique": True}}}
    )
    records = [{"age": None}, {"age": None}, {"age": 3.0}]
    for compiled in (True, False):
        frame = validate_records(records, spec, 10, compiled=compiled)
        assert frame["age"].isna().tolist() == [True, True, False]
    training = pd.DataFrame({"age": [math.nan, math.nan, 3.0]})
    SchemaValidator("t", spec.model_dump()).validate(training)


def test_examples_are_the_first_failing_values_in_row_order() -> None:
    spec = SchemaSpec.model_validate(
        {
            "columns": {
                "id": {"dtype": "int64", "unique": True},
                "term": {"dtype": "int64", "isin": [12, 24]},
                "age": {"dtype": "float64", "ge": 18},
            }
        }
    )
    records = [{"id": 1, "term": 13, "age": 17.5}, {"id": 1, "term": 14, "age": 30}]
    for compiled in (True, False):
        with pytest.raises(RequestValidationError) as caught:
            validate_records(records * 2, spec, 10, compiled=compiled)
        messages = {v.field: v.message for v in caught.value.violations}
        # Pandera's own failure cases said 1.0 for the id (cast beside the failing float)
        # and listed 14 before 13 (the order of an unstable sort).
        assert messages["id"] == "values failing field_uniqueness; examples: [1]"
        assert messages["term"] == "values failing isin([12, 24]); examples: [13, 14]"
