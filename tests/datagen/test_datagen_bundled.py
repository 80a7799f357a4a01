"""Datasets bundled with scikit-learn: shapes, column names, dtypes, errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from reprokit.datagen.bundled import BUNDLED_NAMES, load_bundled, snake_case

SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")


def test_breast_cancer() -> None:
    table = load_bundled("breast_cancer")
    assert table.shape == (569, 32)
    assert list(table.columns[:3]) == ["row_id", "mean_radius", "mean_texture"]
    assert table.columns[-1] == "target"
    assert "worst_concave_points" in table.columns
    assert str(table["target"].dtype) == "int64"
    assert set(table["target"]) == {0, 1}
    assert (table.drop(columns=["row_id", "target"]).dtypes == np.float64).all()


def test_diabetes() -> None:
    table = load_bundled("diabetes")
    assert table.shape == (442, 12)
    expected = ["row_id", "age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "target"]
    assert list(table.columns) == expected
    assert str(table["target"].dtype) == "float64"
    assert set(table["sex"]) == {1.0, 2.0}  # unscaled, original units
    assert table["age"].between(18, 90).all()


@pytest.mark.parametrize("name", BUNDLED_NAMES)
def test_row_id_and_names(name: str) -> None:
    table = load_bundled(name)
    assert table.columns[0] == "row_id"
    assert str(table["row_id"].dtype) == "int64"
    assert table["row_id"].tolist() == list(range(len(table)))
    assert all(SNAKE.match(column) for column in table.columns)
    assert table.notna().all().all()


def test_unknown_name_names_the_name_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"'iris'.*breast_cancer.*diabetes"):
        load_bundled("iris")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("mean radius", "mean_radius"),
        ("s1", "s1"),
        ("Worst Concave-Points", "worst_concave_points"),
        ("meanRadius", "mean_radius"),
        ("  café  ", "cafe"),
    ],
)
def test_snake_case(raw: str, expected: str) -> None:
    assert snake_case(raw) == expected
