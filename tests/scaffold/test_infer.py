"""Schema translation, role proposal and task inference on generated frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reprokit.config.models import SchemaSpec
from reprokit.scaffold.infer import (
    MAX_ISIN_VALUES,
    Roles,
    ScaffoldError,
    check_target,
    infer_task,
    project_dtype,
    propose_roles,
    schema_columns,
    widened,
    with_target_classes,
)
from reprokit.schemas import SchemaValidator


def _frame(rows: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + rows)[::-1],
            "signup": pd.date_range("2024-01-01", periods=rows, freq="D"),
            "income": np.where(np.arange(rows) % 7 == 0, np.nan, rng.uniform(1000, 9000, rows)),
            "balance": rng.normal(0, 100, rows),
            "visits": rng.integers(0, 30, rows),
            "plan": pd.Series(rng.choice(["basic", "premium"], rows), dtype="string"),
            "comment": pd.Series([f"note {i}" for i in range(rows)], dtype=object),
            "churned": rng.integers(0, 2, rows),
        }
    )


def test_pandera_inference_becomes_the_project_schema() -> None:
    frame = _frame()
    columns = schema_columns(frame, "churned", "customer_id")
    assert columns["customer_id"] == {"dtype": "int64", "unique": True}
    assert columns["signup"] == {"dtype": "datetime64[ns]", "coerce": True}
    income = columns["income"]
    assert income["dtype"] == "float64" and income["nullable"] is True
    # Widened beyond the observed range, and still non-negative.
    assert 0 <= income["ge"] < frame["income"].min() and income["le"] > frame["income"].max()
    assert columns["balance"]["ge"] < frame["balance"].min() < 0
    assert columns["visits"]["dtype"] == "int64" and isinstance(columns["visits"]["le"], int)
    assert columns["plan"] == {"dtype": "str", "isin": ["basic", "premium"]}
    # 50 distinct notes: too many for a category list.
    assert columns["comment"] == {"dtype": "str"}
    with_target_classes(columns, "churned", frame)
    assert columns["churned"] == {"dtype": "int64", "isin": [0, 1]}
    # The result is a valid schema that accepts the frame it came from.
    spec = SchemaSpec.model_validate({"columns": columns})
    SchemaValidator("raw", spec.model_dump(), "churned", "binary").validate(frame)


def test_few_valued_text_gets_isin_up_to_the_limit() -> None:
    values = [f"c{i}" for i in range(MAX_ISIN_VALUES + 1)]
    frame = pd.DataFrame({"few": (values[:3] * 7)[:21], "many": values, "y": [0, 1] * 10 + [0]})
    columns = schema_columns(frame, "y", None)
    assert columns["few"]["isin"] == ["c0", "c1", "c2"]
    assert "isin" not in columns["many"]


@pytest.mark.parametrize(
    ("low", "high", "integer", "expected"),
    [
        (10.0, 20.0, False, (9.0, 21.0)),
        (0.5, 1.5, False, (0.4, 1.6)),
        (-5.0, 5.0, True, (-6.0, 6.0)),
        (3.0, 3.0, True, (2.0, 4.0)),  # one value: a margin of its magnitude
        (0.0, 0.0, False, (0.0, 0.1)),
        (1.0, 99.0, True, (0.0, 109.0)),  # non-negative data stays non-negative
    ],
)
def test_ranges_are_widened_by_a_margin(
    low: float, high: float, integer: bool, expected: tuple[float, float]
) -> None:
    assert widened(low, high, integer) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("inferred", "expected"),
    [("string[pyarrow]", "str"), ("object", "str"), ("boolean", "bool"), ("Int64", "int64")],
)
def test_text_and_nullable_dtypes_map_to_schema_names(inferred: str, expected: str) -> None:
    assert project_dtype(inferred) == expected


def test_roles_id_and_timestamp() -> None:
    frame = _frame()
    # customer_id counts down, but its name says id; signup is the parsed date column.
    assert propose_roles(frame, "churned") == Roles("customer_id", "signup")
    unnamed = frame.rename(columns={"customer_id": "kunde"})
    # Unique text is an id; an unnamed unique integer that does not count up is not.
    assert propose_roles(unnamed, "churned").id_column == "comment"
    counting = pd.DataFrame({"kunde": [7, 8, 9], "x": [0.1, 0.1, 0.3], "y": [0, 1, 0]})
    assert propose_roles(counting, "y") == Roles("kunde", None)
    measured = pd.DataFrame({"weight": [70, 62, 81], "y": [0, 1, 0]})
    assert propose_roles(measured, "y") == Roles(None, None)
    alone = pd.DataFrame({"customer_id": [1, 2, 3], "y": [0, 1, 0]})
    assert propose_roles(alone, "y").id_column is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (pd.Series(["yes", "no", "yes"]), "binary"),
        (pd.Series([0.0, 1.0, None]), "binary"),
        (pd.Series([0, 1, 2, 1]), "multiclass"),
        (pd.Series(["a", "b", "c"]), "multiclass"),
        (pd.Series([1.0, 2.0, 3.0]), "regression"),
        (pd.Series([0.5, 1.25, 3.0]), "regression"),
        (pd.Series(range(100)), "regression"),  # too many integers to be classes
    ],
)
def test_task_from_the_target(target: pd.Series, expected: str) -> None:
    assert infer_task(target) == expected


def test_many_text_classes_ask_for_task() -> None:
    with pytest.raises(ScaffoldError, match="pass --task multiclass"):
        infer_task(pd.Series([f"v{i}" for i in range(50)], name="label"))


def test_target_typo_gets_a_did_you_mean() -> None:
    with pytest.raises(
        ScaffoldError, match=r"'churnd' is not a column of f\.csv.*did you mean 'churned'"
    ):
        check_target("churnd", ["churned", "age"], "f.csv")


def test_a_repeated_key_named_like_one_is_the_group_column() -> None:
    rows = 60
    frame = pd.DataFrame(
        {
            "order_id": np.arange(rows),
            "customer_id": np.arange(rows) % 12,  # 12 customers, 5 orders each
            "region": np.arange(rows) % 12,  # repeats too, but is not named like a key
            "store": np.arange(rows) % 3,  # a key, but too few groups to split by
            "y": np.arange(rows) % 2,
        }
    )
    roles = propose_roles(frame, "y")
    assert (roles.id_column, roles.group_column) == ("order_id", "customer_id")
    assert propose_roles(frame.drop(columns="customer_id"), "y").group_column is None
    # A key gets no range and no value list: new customers arrive with new data.
    columns = schema_columns(frame, "y", roles.id_column, ("customer_id",))
    assert columns["customer_id"] == {"dtype": "int64"}
