"""The catalog validator on small in-memory tables: each kind of violation is one line
that names the column, the rule and the bad rows; a meaningless table is refused."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from reprokit.errors import DataError
from reprokit.schemas.build import build_schema, request_schema_spec
from reprokit.schemas.validator import SchemaValidator

SCHEMA: dict[str, Any] = {
    "strict": True,
    "columns": {
        "id": {"dtype": "int64", "unique": True},
        "age": {"dtype": "int64", "ge": 18, "le": 100},
        "income": {"dtype": "float64", "nullable": True, "gt": 0},
        "grade": {"dtype": "str", "isin": ["A", "B"]},
        "label": {"dtype": "int64", "isin": [0, 1]},
    },
}


def frame(**changes: Any) -> pd.DataFrame:
    data: dict[str, Any] = {
        "id": [1, 2, 3, 4],
        "age": [30, 40, 50, 60],
        "income": [1.0, np.nan, 3.0, 4.0],
        "grade": ["A", "B", "A", "B"],
        "label": [0, 1, 0, 1],
    }
    data.update(changes)
    # pandas' own text dtype: "str" on pandas 3, object on 2.x (where astype("str") would
    # turn a None into the text "None").
    data["grade"] = pd.Series(data["grade"], dtype="str")
    return pd.DataFrame(data)


def problems(data: pd.DataFrame, task: str | None = "binary") -> list[str]:
    validator = SchemaValidator("applicants", SCHEMA, target="label", task=task)
    with pytest.raises(DataError) as raised:
        validator.validate(data)
    header, *lines = str(raised.value).split("\n  - ")
    assert header.startswith(f"dataset 'applicants' ({len(data)} rows) violates its schema")
    return lines


def test_valid_data_passes_unchanged() -> None:
    data = frame()
    validated = SchemaValidator("applicants", SCHEMA, "label", "binary").validate(data)
    pd.testing.assert_frame_equal(validated, data)


def test_bounds_sets_nulls_and_uniqueness_name_their_rows_and_examples() -> None:
    lines = problems(frame(id=[1, 1, 3, 4], age=[17, 40, 50, 101], grade=["A", "C", "A", None]))
    missing = pd.Series([None], dtype="str").iloc[0]  # nan on pandas 3, None on 2.x
    assert lines == [
        "column 'age': 1 bad row, values failing greater_than_or_equal_to(18.0); examples: [17]",
        "column 'age': 1 bad row, values failing less_than_or_equal_to(100.0); examples: [101]",
        "column 'grade': 1 bad row, values failing isin(['A', 'B']); examples: ['C']",
        "column 'grade': 1 bad row, null values where the schema does not allow them; "
        f"examples: [{missing}]",
        "column 'id': 2 bad rows, duplicate values where the schema requires unique ones; "
        "examples: [1]",
    ]


def test_missing_and_extra_columns_are_named() -> None:
    lines = problems(frame().drop(columns=["age"]).assign(bonus=1))
    assert "column 'age': missing from the data (the schema requires it)" in lines
    assert "column 'bonus': not in the schema (unexpected extra column)" in lines


def test_a_wrong_dtype_is_one_line_not_one_per_value_check() -> None:
    # Text ages would also fail both bounds, as type errors: only the dtype is reported.
    ages = ["30", "40", "50", "60"]
    text = pd.Series(ages).dtype
    assert problems(frame(age=ages)) == [
        f"column 'age': whole column, wrong dtype, expected int64; examples: ['{text}']"
    ]


def test_an_empty_table_and_a_single_class_target_are_refused() -> None:
    validator = SchemaValidator("applicants", SCHEMA, "label", "binary")
    with pytest.raises(DataError, match=r"'applicants' is empty: 0 rows"):
        validator.validate(frame().iloc[:0])
    with pytest.raises(DataError, match=r"target column 'label' has a single class \[0\] in 4"):
        validator.validate(frame(label=[0, 0, 0, 0]))
    # A regression target may hold one value; only classification needs two classes.
    SchemaValidator("applicants", SCHEMA, "label", "regression").validate(frame(label=[0] * 4))


def test_the_request_schema_is_the_training_schema_without_the_target() -> None:
    request = request_schema_spec(SCHEMA, target="label")
    assert list(request.columns) == ["id", "age", "income", "grade"]
    schema = build_schema(request, name="request")
    assert schema.strict is True and schema.name == "request"
    assert "label" in build_schema(SCHEMA, name="train").columns


def test_text_columns_are_proven_by_type_inference_only_when_pandera_would_pass_them() -> None:
    from reprokit.schemas.build import as_schema_spec
    from reprokit.schemas.validator import text_columns

    spec = as_schema_spec(
        {
            "columns": {
                "text": {"dtype": "str"},
                "gaps": {"dtype": "str", "nullable": True},
                "mixed": {"dtype": "str"},
                "coerced": {"dtype": "str", "coerce": True},
                "number": {"dtype": "int64"},
            }
        }
    )
    data = pd.DataFrame(
        {
            "text": pd.Series(["a", "b"], dtype=object),
            "gaps": pd.Series([None, "b"], dtype=object),
            "mixed": pd.Series(["a", 3], dtype=object),
            "coerced": pd.Series(["a", "b"], dtype=object),
            "number": [1, 2],
        }
    )
    assert text_columns(spec, data) == ["text", "gaps"]


def test_validation_coerces_a_copy_and_leaves_the_callers_frame_alone() -> None:
    schema = {
        "columns": {"day": {"dtype": "datetime64[ns]", "coerce": True}, "s": {"dtype": "str"}}
    }
    data = pd.DataFrame(
        {"day": ["2024-01-02", "2024-01-03"], "s": pd.Series(["a", "b"], dtype=object)}
    )
    validated = SchemaValidator("t", schema).validate(data)
    assert str(validated["day"].dtype) == "datetime64[ns]"
    assert data["day"].tolist() == ["2024-01-02", "2024-01-03"]
