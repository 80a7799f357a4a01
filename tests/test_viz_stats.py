"""kedro-viz's dataset statistics written by every entry point (`.viz/stats.json`)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from reprokit.viz_stats import STATS_FILE, VizStatsHook, merged, table_stats


def test_a_table_has_rows_columns_and_its_file_size(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    file = tmp_path / "t.parquet"
    frame.to_parquet(file)
    assert table_stats(frame, file) == {"rows": 3, "columns": 2, "file_size": file.stat().st_size}
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "p1").write_bytes(b"12345")
    (folder / "p2").write_bytes(b"678")
    assert table_stats(frame, folder) == {"rows": 3, "columns": 2, "file_size": 8}
    assert table_stats(frame, tmp_path / "missing") == {"rows": 3, "columns": 2}
    # kedro-viz counts pandas tables only: a model's text, a dict of figures are not tables.
    assert table_stats("tree\n", file) is None and table_stats({"roc": frame}, None) is None


def test_a_run_replaces_its_own_datasets_and_keeps_the_other_stages(tmp_path: Path) -> None:
    assert merged({"train": {"rows": 1}, "raw": {"rows": 9}}, {"train": {"rows": 2}}) == {
        "raw": {"rows": 9},
        "train": {"rows": 2},
    }
    stats = tmp_path / STATS_FILE
    stats.parent.mkdir()
    stats.write_text(json.dumps({"raw": {"rows": 9, "columns": 4}}), encoding="utf-8")
    hook = VizStatsHook(tmp_path, {"train": {"filepath": "data/train.parquet"}, "params": {}})
    hook.after_dataset_loaded("train", pd.DataFrame({"a": [1, 2]}))
    hook.after_dataset_saved("model", "tree\n")
    hook.write()
    assert json.loads(stats.read_text(encoding="utf-8")) == {
        "raw": {"rows": 9, "columns": 4},
        "train": {"rows": 2, "columns": 1},
    }


def test_a_damaged_stats_file_is_replaced_and_a_run_without_tables_writes_nothing(
    tmp_path: Path,
) -> None:
    stats = tmp_path / STATS_FILE
    VizStatsHook(tmp_path, {}).write()
    assert not stats.exists()
    stats.parent.mkdir()
    stats.write_text("{not json", encoding="utf-8")
    hook = VizStatsHook(tmp_path, {})
    hook.after_dataset_saved("primary", pd.DataFrame({"a": [1]}))
    hook.write()
    assert json.loads(stats.read_text(encoding="utf-8")) == {"primary": {"rows": 1, "columns": 1}}
