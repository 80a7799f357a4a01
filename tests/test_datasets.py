"""Atomic writes: an interrupted save leaves the earlier file intact and no temp file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from matplotlib.figure import Figure

from reprokit.datasets import (
    FiguresDataset,
    JSONDataset,
    TableDataset,
    TablesDataset,
    TextDataset,
)
from reprokit.errors import DataError


class Unserialisable:
    """pyarrow cannot write this object column; the save fails midway."""


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name or p.name.endswith(".old"))


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_table_round_trip(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    dataset = TableDataset(str(tmp_path / f"t{suffix}"))
    dataset.save(frame)
    pd.testing.assert_frame_equal(dataset.load(), frame, check_dtype=False)


def test_failed_parquet_save_keeps_the_earlier_file(tmp_path: Path) -> None:
    path = tmp_path / "table.parquet"
    dataset = TableDataset(str(path))
    dataset.save(pd.DataFrame({"a": [1, 2, 3]}))
    before = path.read_bytes()
    with pytest.raises(Exception, match=r"table\.parquet"):
        dataset.save(pd.DataFrame({"a": [Unserialisable()]}))
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_failed_json_save_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    dataset = JSONDataset(str(path))
    dataset.save({"ok": 1})
    with pytest.raises(Exception, match=r"state\.json"):
        dataset.save({"bad": Unserialisable()})
    assert dataset.load() == {"ok": 1}
    assert leftovers(tmp_path) == []


def test_directory_datasets_swap_whole_folders(tmp_path: Path) -> None:
    tables = TablesDataset(str(tmp_path / "plots"))
    tables.save({"roc": pd.DataFrame({"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]})})
    tables.save({"pr": pd.DataFrame({"recall": [1.0], "precision": [0.5]})})
    assert set(tables.load()) == {"pr"}  # the old folder's files do not linger

    def broken(_: Any) -> None:
        raise RuntimeError("disk full")

    figure = Figure()
    figure.add_subplot().plot([0, 1])
    figures = FiguresDataset(str(tmp_path / "figures"))
    figures.save({"roc": figure})
    failing = Figure()
    failing.savefig = broken  # type: ignore[method-assign]
    with pytest.raises(Exception, match="figures"):
        figures.save({"roc": failing})
    assert list(figures.load()) == ["roc"]
    assert leftovers(tmp_path) == []


def test_missing_and_damaged_files_raise_data_errors(tmp_path: Path) -> None:
    from kedro.io import DatasetError

    with pytest.raises(DatasetError) as missing:
        TextDataset(str(tmp_path / "model.txt")).load()
    assert isinstance(missing.value.__cause__, DataError)
    damaged = tmp_path / "t.parquet"
    damaged.write_bytes(b"PAR1 not really")
    with pytest.raises(DatasetError, match="cannot be read as Parquet"):
        TableDataset(str(damaged)).load()
