"""Nothing changes silently: non-boolean spellings in a bool column, categories that differ
only by whitespace or case, columns `strict: filter` drops, non-finite numbers and JSON
artifacts that would hold NaN/Infinity are each an error or a logged warning."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from reprokit.datasets import JSONDataset
from reprokit.errors import DataError
from reprokit.schemas.validator import SchemaValidator


def validator(columns: dict[str, Any], strict: bool | str = True) -> SchemaValidator:
    return SchemaValidator("raw", {"strict": strict, "columns": columns})


def test_yes_no_strings_are_not_coerced_to_true() -> None:
    check = validator({"member": {"dtype": "bool", "coerce": True}})
    data = pd.DataFrame({"member": ["yes", "no", "no", "yes"]})
    with pytest.raises(DataError) as error:
        check.validate(data)
    message = str(error.value)
    assert "column 'member': 4 bad rows, values that are not booleans" in message
    assert "examples: ['no', 'yes']" in message
    assert "data.read.true_values" in message


def test_booleans_and_zero_one_still_coerce() -> None:
    check = validator({"member": {"dtype": "bool", "coerce": True}})
    validated = check.validate(pd.DataFrame({"member": [1, 0, 1]}))
    assert validated["member"].tolist() == [True, False, True]


def test_category_variants_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    check = validator({"plan": {"dtype": "str"}})
    with caplog.at_level(logging.WARNING, logger="reprokit.schemas.validator"):
        check.validate(pd.DataFrame({"plan": ["basic", "basic ", "Pro", "pro", "max"]}))
    assert "'plan'" in caplog.text
    assert "['basic', 'basic ']" in caplog.text and "['Pro', 'pro']" in caplog.text
    assert "data.read.strip_values" in caplog.text


def test_strict_filter_logs_each_dropped_column(caplog: pytest.LogCaptureFixture) -> None:
    check = validator({"a": {"dtype": "int64"}}, strict="filter")
    with caplog.at_level(logging.WARNING, logger="reprokit.schemas.validator"):
        validated = check.validate(pd.DataFrame({"a": [1], "extra": [2], "other": [3]}))
    assert list(validated.columns) == ["a"]
    assert "column 'extra' dropped" in caplog.text and "column 'other' dropped" in caplog.text


def test_infinite_values_fail_unless_the_column_allows_them() -> None:
    data = pd.DataFrame({"x": [1.0, np.inf, np.nan, -np.inf]})
    with pytest.raises(DataError, match=r"column 'x': 2 bad rows, non-finite values"):
        validator({"x": {"dtype": "float64", "nullable": True}}).validate(data)
    allowed = {"x": {"dtype": "float64", "nullable": True, "allow_infinite": True}}
    assert np.isinf(validator(allowed).validate(data)["x"]).sum() == 2


def test_json_artifacts_are_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "reference_profile.json"
    from kedro.io import DatasetError

    with pytest.raises(DatasetError, match=r"reference_profile\.json: cannot be written as JSON"):
        JSONDataset(str(path)).save({"max": float("inf")})
    assert not path.exists()


def test_the_dask_engine_rejects_non_boolean_spellings_too() -> None:
    import dask.dataframe as dd

    from reprokit.engines.dask.validation import validate_frame

    data = dd.from_pandas(pd.DataFrame({"member": ["yes", "no", "no"]}), npartitions=2)
    schema = {"strict": True, "columns": {"member": {"dtype": "bool", "coerce": True}}}
    with pytest.raises(DataError, match=r"column 'member': 3 bad rows, values that are not bool"):
        validate_frame(data, "raw", schema)
