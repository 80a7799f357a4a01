"""The OpenAPI field schemas say what request validation accepts (pure, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from reprokit.config.models import ColumnSpec, SchemaSpec
from reprokit.serving.openapi import FLOAT64_MAX, INT64_MAX, column_schema, record_schema
from reprokit.serving.request import RequestValidationError, validate_records


def column(**fields: Any) -> ColumnSpec:
    return ColumnSpec.model_validate(fields)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (column(dtype="int64", gt=0.5, le=9.9), {"minimum": 1, "maximum": 9}),
        (column(dtype="int64", ge=-2.5, lt=3), {"minimum": -2, "maximum": 2}),
        (column(dtype="int64", nullable=True), {"minimum": -(2**63), "maximum": INT64_MAX}),
        (
            column(dtype="float64", gt=0, nullable=True),
            {"minimum": 0, "exclusiveMinimum": True, "maximum": FLOAT64_MAX, "nullable": True},
        ),
        (column(dtype="str", isin=["a", "b"]), {"type": "string", "enum": ["a", "b"]}),
        (column(dtype="bool", nullable=True), {"type": "boolean"}),
    ],
)
def test_field_schemas_carry_bounds_values_and_nullability(
    spec: ColumnSpec, expected: dict[str, Any]
) -> None:
    """Integer bounds are made inclusive, int64 and float64 bound unbounded fields, and only
    the kinds whose column can hold a missing value are nullable (ints and bools never)."""
    schema = column_schema("x", spec)
    assert {key: schema[key] for key in expected} == expected
    assert ("nullable" in schema) == ("nullable" in expected)


@pytest.mark.parametrize(("value", "accepted"), [(1, True), (9, True), (0, False), (10, False)])
def test_integer_bounds_agree_with_validation(value: int, accepted: bool) -> None:
    spec = SchemaSpec.model_validate({"columns": {"x": {"dtype": "int64", "gt": 0.5, "le": 9.9}}})
    bounds = column_schema("x", spec.columns["x"])
    assert (bounds["minimum"] <= value <= bounds["maximum"]) == accepted
    try:
        validate_records([{"x": value}], spec, max_records=1)
    except RequestValidationError:
        assert not accepted
    else:
        assert accepted


def test_unknown_fields_are_documented_as_the_schema_treats_them() -> None:
    columns = {"x": {"dtype": "float64", "unique": True}}
    strict = record_schema(SchemaSpec.model_validate({"strict": True, "columns": columns}))
    assert strict["additionalProperties"] is False and strict["required"] == ["x"]
    assert strict["properties"]["x"]["x-reprokit-unique"] is True
    lenient = record_schema(SchemaSpec.model_validate({"strict": "filter", "columns": columns}))
    assert lenient["additionalProperties"] is True


@pytest.mark.parametrize(("dtype", "kind"), [("int64", "integer"), ("str", "string")])
def test_the_entity_body_documents_the_key_as_the_store_holds_it(dtype: str, kind: str) -> None:
    from types import SimpleNamespace

    from reprokit.serving.openapi import _request_schemas

    spec = SchemaSpec.model_validate({"columns": {"customer_id": {"dtype": dtype}}})
    schemas = _request_schemas(SimpleNamespace(request_spec=spec), 10, "customer_id")  # type: ignore[arg-type]
    entity = schemas["EntitiesRequest"]["properties"]["entities"]["items"]
    key = entity["properties"]["customer_id"]
    assert key["type"] == kind
    assert kind == "string" or (key["minimum"], key["maximum"]) == (-(2**63), INT64_MAX)
    assert [ref["$ref"].rsplit("/", 1)[1] for ref in schemas["PredictRequest"]["oneOf"]] == [
        "RecordsRequest",
        "ColumnsRequest",
        "EntitiesRequest",
    ]
