"""`materialize`: every source kind, and the errors for malformed sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from reprokit.datagen.credit import generate_credit
from reprokit.datagen.sources import materialize


def test_synthetic_credit(tmp_path: Path) -> None:
    path = tmp_path / "01_raw" / "credit.parquet"
    source = {"kind": "synthetic_credit", "rows": 1_500, "seed": 7}
    assert materialize(source, path) == 1_500
    pd.testing.assert_frame_equal(pd.read_parquet(path), generate_credit(1_500, 7))


def test_synthetic_credit_is_reproducible(tmp_path: Path) -> None:
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    source = {"kind": "synthetic_credit", "rows": 500, "seed": 3}
    materialize(source, first)
    materialize(source, second)
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize(("name", "rows"), [("breast_cancer", 569), ("diabetes", 442)])
def test_bundled(tmp_path: Path, name: str, rows: int) -> None:
    path = tmp_path / f"{name}.csv"
    assert materialize({"kind": "bundled", "name": name}, path) == rows
    assert len(pd.read_csv(path)) == rows


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_file_is_counted_not_written(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"mine{suffix}"
    frame = pd.DataFrame({"a": range(42), "b": ["x"] * 42})
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    assert materialize({"kind": "file"}, path) == 42
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.parquet"
    with pytest.raises(FileNotFoundError, match=r"mine\.parquet.*dvc add"):
        materialize({"kind": "file"}, path)
    assert not path.exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({}, r"data\.source\.kind is None.*registered source"),
        ({"kind": "s3"}, r"data\.source\.kind is 's3'.*registered: \['bundled', 'file', 'synth"),
        ({"kind": "synthetic_credit", "rows": 10}, r"`data\.source\.seed` is missing"),
        (
            {"kind": "synthetic_credit", "rows": 10, "seed": 1, "n": 2},
            r"unknown key `data\.source\.n`; kind 'synthetic_credit' takes \['rows', 'seed'\]",
        ),
        ({"kind": "bundled"}, r"`data\.source\.name` is missing"),
        ({"kind": "file", "path": "x.csv"}, r"unknown key `data\.source\.path`"),
        ({"kind": "synthetic_credit", "rows": 0, "seed": 1}, r"data\.source\.rows.*greater than 0"),
        ({"kind": "synthetic_credit", "rows": True, "seed": 1}, r"data\.source\.rows"),
        ({"kind": "synthetic_credit", "rows": "10", "seed": 1}, r"data\.source\.rows"),
        (
            {"kind": "synthetic_credit", "rows": 10, "seed": -1},
            r"data\.source\.seed.*>= 0|greater than or equal to 0",
        ),
        ({"kind": "bundled", "name": "iris"}, r"'iris'"),
    ],
)
def test_malformed_sources(tmp_path: Path, source: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        materialize(source, tmp_path / "t.parquet")
    assert list(tmp_path.iterdir()) == []
