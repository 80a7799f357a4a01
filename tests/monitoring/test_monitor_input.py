"""The batch `reprokit monitor` reads: a bad file is an input error (exit 2), never taken for
a drift alarm (exit 1), and the message names the file and what is wrong with it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reprokit.monitoring.cli import MonitorInputError, read_current


def test_a_bad_input_is_exit_2_not_an_alarm() -> None:
    assert MonitorInputError.exit_code == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("batch.json", None, r"batch\.json: expected a \.csv or \.parquet file"),
        ("batch.csv", None, r"batch\.csv does not exist"),
        ("batch.csv", b"", r"batch\.csv is empty \(0 bytes\): expected a CSV header and rows"),
        ("batch.parquet", b"not parquet", r"batch\.parquet cannot be read as Parquet "),
    ],
)
def test_an_unreadable_batch_names_the_file_and_the_problem(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MonitorInputError, match=message):
        read_current(path)


def test_csv_and_parquet_batches_are_read(tmp_path: Path) -> None:
    frame = pd.DataFrame({"age": [30, 40], "grade": ["A", "B"]})
    frame.to_parquet(tmp_path / "batch.parquet", index=False)
    frame.to_csv(tmp_path / "batch.csv", index=False)
    for name in ("batch.parquet", "batch.csv"):
        pd.testing.assert_frame_equal(read_current(tmp_path / name), frame, check_dtype=False)
