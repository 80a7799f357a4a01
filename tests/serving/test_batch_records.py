"""`reprokit predict`'s conversions: table cells to the JSON a client would send, the
service's predictions back to columns, and the files it accepts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reprokit.errors import DataError
from reprokit.serving.batch import _flatten, _read, frame_to_records


def test_cells_become_the_json_values_a_client_sends() -> None:
    frame = pd.DataFrame(
        {
            "n": np.array([1, 2], dtype=np.int64),
            "x": [0.5, np.nan],
            "when": pd.to_datetime(["2024-01-02 03:04:05", None]),
            "flag": [True, False],
            "color": ["red", None],
        }
    )
    records = frame_to_records(frame)
    assert records == [
        {"n": 1, "x": 0.5, "when": "2024-01-02T03:04:05", "flag": True, "color": "red"},
        {"n": 2, "x": None, "when": None, "flag": False, "color": None},
    ]
    # Python values, not numpy scalars: what json.dumps (and a client) produces.
    assert type(records[0]["n"]) is int and type(records[0]["flag"]) is bool


def test_predictions_become_columns_per_task() -> None:
    binary = [{"probabilities": {"0": 0.2, "1": 0.8}, "label": 1}]
    regression = [{"value": 3.5}]
    assert _flatten(binary).to_dict("records") == [
        {"probability_0": 0.2, "probability_1": 0.8, "label": 1}
    ]
    assert _flatten(regression).to_dict("records") == [{"prediction": 3.5}]


def test_only_csv_and_parquet_files_that_exist_are_read(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"rows\.json: expected a \.csv or \.parquet file"):
        _read(tmp_path / "rows.json")
    with pytest.raises(DataError, match=r"rows\.csv does not exist"):
        _read(tmp_path / "rows.csv")
    (tmp_path / "rows.csv").write_text("a,b\n1,x\n", encoding="utf-8")
    assert _read(tmp_path / "rows.csv").to_dict("records") == [{"a": 1, "b": "x"}]
