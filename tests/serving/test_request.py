"""Request validation: JSON records -> typed frame, every violation with field, rule, rows."""

from __future__ import annotations

import datetime
import json
import math
import re
import sys
from typing import Any

import hypothesis
import pandas as pd
import pytest
from hypothesis import strategies as st

from reprokit.config.models import SchemaSpec
from reprokit.serving.request import (
    MAX_VIOLATIONS_LISTED,
    TIMESTAMP_PATTERN,
    RequestValidationError,
    validate_records,
)

SPEC = SchemaSpec.model_validate(
    {
        "strict": True,
        "columns": {
            "id": {"dtype": "int64", "unique": True},
            "when": {"dtype": "datetime64[ns]", "coerce": True},
            "age": {"dtype": "float64", "nullable": True, "ge": 18},
            "amount": {"dtype": "float64", "gt": 0},
            "term": {"dtype": "int64", "isin": [12, 24]},
            "kind": {"dtype": "str"},
        },
    }
)


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 1,
        "when": "2024-03-01T10:00:00",
        "age": 30.0,
        "amount": 100,
        "term": 12,
        "kind": "a",
    }
    base.update(changes)
    return base


def violations(
    records: list[Any], spec: SchemaSpec = SPEC
) -> list[tuple[str | None, str, list[int]]]:
    with pytest.raises(RequestValidationError) as caught:
        validate_records(records, spec, max_records=100)
    return [(v.field, v.rule, v.rows) for v in caught.value.violations]


def test_valid_records_get_the_training_dtypes() -> None:
    frame = validate_records([record(), record(id=2, age=None)], SPEC, max_records=10)
    assert str(frame["id"].dtype) == "int64"
    assert str(frame["when"].dtype) == "datetime64[ns]"
    assert frame["amount"].tolist() == [100.0, 100.0]
    assert math.isnan(frame["age"].iloc[1])


def test_empty_and_too_many_records() -> None:
    assert violations([]) == [(None, "min_records", [])]
    with pytest.raises(RequestValidationError) as caught:
        validate_records([record(id=i) for i in range(3)], SPEC, max_records=2)
    assert caught.value.violations[0].rule == "max_records"


def test_missing_and_extra_fields_name_their_rows() -> None:
    missing = record()
    del missing["amount"]
    assert violations([record(), missing, record(id=3, extra=1)]) == [
        ("amount", "required", [1]),
        ("extra", "unexpected_field", [2]),
    ]


def test_filter_schema_ignores_extra_fields() -> None:
    spec = SPEC.model_copy(update={"strict": "filter"})
    frame = validate_records([record(extra=1)], spec, max_records=10)
    assert "extra" not in frame.columns


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("age", "thirty"),
        ("amount", True),
        ("id", 1.5),
        ("id", None),
        ("id", 2**70),
        ("id", True),  # JSON true is not an integer, even though bool subclasses int
        ("amount", 10**400),  # an integer past the float64 range
        # Just past the document's bound, the decimal 1.7976931348623157e308: float() rounds
        # it to the largest float64 instead of overflowing (schemathesis found it).
        ("amount", 17976931348623157 * 10**292 + 1),
        ("amount", int(sys.float_info.max) + 1),
        ("age", -int(sys.float_info.max) - 2**971),
        ("kind", 3),
        ("when", "not a date"),
        ("when", "2024-03-01T10:00:00+02:00"),
        # Strict ISO 8601: pandas alone reads all of these as timestamps.
        ("when", "now"),
        ("when", "today"),
        ("when", "01-03-2024"),
        ("when", "20240301"),
        ("when", "2024-3-1"),
        ("when", " 2024-03-01"),
        ("when", "2024-02-30"),  # the form is right, the day is not
        ("amount", {"nested": 1}),
        # The `NaN`/`Infinity` literals and 1e309 (parsed as inf), even where null is allowed.
        ("amount", math.nan),
        ("amount", math.inf),
        ("age", -math.inf),
        ("age", math.nan),
    ],
)
def test_wrong_json_types_are_dtype_violations(field: str, value: Any) -> None:
    assert violations([record(), record(**{"id": 2, field: value})]) == [(field, "dtype", [1])]


@pytest.mark.parametrize("year", ["0000", "0001", "1500", "1677", "2262", "2300", "9999"])
@pytest.mark.parametrize("with_null", [False, True], ids=["one-pass", "per-row"])
def test_dates_outside_the_datetime64_range_name_field_and_row(year: str, with_null: bool) -> None:
    """ISO 8601 dates outside the whole years the model's datetime64[ns] column holds are a
    422, not an uncaught OutOfBoundsDatetime (a 500)."""
    spec = SPEC.model_copy(
        update={
            "columns": {
                **SPEC.columns,
                "when": SPEC.columns["when"].model_copy(update={"nullable": with_null}),
            }
        }
    )
    rows = [record(), record(id=2, when=f"{year}-01-01T00:00:00")]
    if with_null:
        rows.append(record(id=3, when=None))
    with pytest.raises(RequestValidationError) as caught:
        validate_records(rows, spec, max_records=10)
    (violation,) = caught.value.violations
    assert (violation.field, violation.rule, violation.rows) == ("when", "dtype", [1])
    assert "years 1678 to 2261" in violation.message


def test_timestamps_at_the_edges_of_the_range_are_accepted() -> None:
    edges = ["1678-01-01", "2261-12-31T23:59:59.999999999", "2024-03-01T10:00", "2000-02-29"]
    frame = validate_records(
        [record(id=i, when=when) for i, when in enumerate(edges)], SPEC, max_records=10
    )
    assert frame["when"].iloc[1] == pd.Timestamp("2261-12-31T23:59:59.999999999")


_TIMES = st.one_of(
    st.just(""),
    st.times().map(lambda t: f"T{t.hour:02}:{t.minute:02}"),
    st.times().map(lambda t: f" {t.isoformat()}"),
    st.tuples(st.times(), st.integers(0, 999_999_999), st.integers(1, 9)).map(
        lambda t: f"T{t[0].replace(microsecond=0).isoformat()}.{t[1]:09}"[: 10 + t[2]]
    ),
)


@hypothesis.settings(max_examples=300, deadline=None, database=None)
@hypothesis.given(day=st.dates(), time=_TIMES)
def test_a_timestamp_is_accepted_exactly_when_the_documented_pattern_matches(
    day: datetime.date, time: str
) -> None:
    """The OpenAPI document states timestamps with TIMESTAMP_PATTERN: for any calendar date
    of years 0001-9999 (any time of day), the service accepts it iff the pattern matches,
    and the pattern matches iff the year is within 1678..2261."""
    text = f"{day.year:04}-{day.month:02}-{day.day:02}{time}"
    matches = re.fullmatch(TIMESTAMP_PATTERN, text) is not None
    assert matches == (1678 <= day.year <= 2261), text
    try:
        validate_records([record(when=text)], SPEC, max_records=1)
    except RequestValidationError as error:
        assert not matches, (text, str(error))
    else:
        assert matches, text


@hypothesis.settings(max_examples=300, deadline=None, database=None)
@hypothesis.given(text=st.from_regex(TIMESTAMP_PATTERN, fullmatch=True))
def test_every_string_of_the_documented_pattern_is_accepted(text: str) -> None:
    frame = validate_records([record(when=text)], SPEC, max_records=1)
    assert frame["when"].iloc[0] == pd.Timestamp(text)


def test_schema_checks_report_rows() -> None:
    found = violations([record(), record(id=1, age=10.0), record(id=3, amount=None, term=36)])
    assert ("age", "greater_than_or_equal_to", [1]) in found
    assert ("amount", "not_nullable", [2]) in found
    assert ("term", "isin", [2]) in found
    assert ("id", "unique", [0, 1]) in found


def test_non_object_records() -> None:
    assert violations([record(), 3, "x"]) == [(None, "type", [1, 2])]


def test_the_one_pass_conversion_and_the_per_row_path_agree() -> None:
    # A nullable timestamp with a null takes the per-value path; the same timestamps
    # without it take the one-pass parse: the parsed values must be the same.
    spec = SPEC.model_copy(
        update={
            "columns": {
                **SPEC.columns,
                "when": SPEC.columns["when"].model_copy(update={"nullable": True}),
            }
        }
    )
    stamps = ["2024-03-01T10:00:00", "2024-03-01 10:00:00.250", "2024-03-01"]
    one_pass = validate_records(
        [record(id=i, when=stamp) for i, stamp in enumerate(stamps)], spec, max_records=10
    )
    per_row = validate_records(
        [record(id=i, when=stamp) for i, stamp in enumerate([*stamps, None])], spec, 10
    )
    assert one_pass["when"].tolist() == per_row["when"].tolist()[:3]
    assert str(one_pass["when"].dtype) == str(per_row["when"].dtype) == "datetime64[ns]"


def test_a_422_lists_at_most_the_first_violations_and_their_count() -> None:
    """100,000 unknown fields (2.6 MB) answered a 13 MB 422; the body is now bounded."""
    flooded = record(**{f"unknown_{i}": 1 for i in range(100_000)}, **{"a" * 10_000: 1})
    with pytest.raises(RequestValidationError) as caught:
        validate_records([flooded], SPEC, max_records=10)
    body = caught.value.as_dict()
    assert body["violation_count"] == 100_001
    assert len(body["violations"]) == MAX_VIOLATIONS_LISTED
    assert "first 100 of 100001" in body["truncated"]
    assert len(json.dumps(body)) < 50_000
    assert len(str(caught.value)) < 20_000
    long_name = next(v for v in body["violations"] if v["field"].startswith("a"))
    assert long_name["field"] == "a" * 200 + "... (10000 characters)"
    few = violations([record(extra=1)])
    assert few == [("extra", "unexpected_field", [0])]


def test_the_refused_range_is_the_one_the_openapi_document_declares() -> None:
    from fractions import Fraction

    from reprokit.serving import openapi, request

    assert int(Fraction(str(openapi.FLOAT64_MAX))) == request._FLOAT64_MAX_SPELLED
