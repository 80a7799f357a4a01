"""Generated-data markers are keyed by the file's content: a file that is no longer the one
the source params wrote (restored by `dvc checkout`, copied, edited) is written again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from tests.support import PROJECT_ROOT, Executions, git_init, run, store_client

from reprokit.core.content.files import file_md5
from reprokit.datagen.prepare import ensure_source, marker_path

DATA_PATH = "data/01_raw/credit.parquet"
SOURCE = {"kind": "synthetic_credit", "rows": 300, "seed": 1}


def test_an_unchanged_file_is_not_written_again(tmp_path: Path) -> None:
    assert ensure_source(SOURCE, DATA_PATH, tmp_path) is True
    written = (tmp_path / DATA_PATH).stat().st_mtime_ns
    assert ensure_source(SOURCE, DATA_PATH, tmp_path) is False
    assert (tmp_path / DATA_PATH).stat().st_mtime_ns == written
    marker = json.loads(marker_path(tmp_path, DATA_PATH).read_text(encoding="utf-8"))
    assert marker == {"source": SOURCE, "md5": file_md5(tmp_path / DATA_PATH)}


def test_a_file_replaced_under_the_marker_is_regenerated(tmp_path: Path) -> None:
    """The issue's case: the marker says 300 rows, `dvc checkout` put another file back."""
    other = tmp_path / "other"
    ensure_source({**SOURCE, "rows": 100}, DATA_PATH, other)
    ensure_source(SOURCE, DATA_PATH, tmp_path)
    shutil.copy2(other / DATA_PATH, tmp_path / DATA_PATH)
    assert ensure_source(SOURCE, DATA_PATH, tmp_path) is True
    assert len(pd.read_parquet(tmp_path / DATA_PATH)) == 300


def test_a_marker_without_a_hash_is_not_trusted(tmp_path: Path) -> None:
    """Markers written before they had hashes (the source params alone) are replaced."""
    ensure_source(SOURCE, DATA_PATH, tmp_path)
    marker = marker_path(tmp_path, DATA_PATH)
    marker.write_text(json.dumps(SOURCE, sort_keys=True), encoding="utf-8")
    assert ensure_source(SOURCE, DATA_PATH, tmp_path) is True
    assert "md5" in json.loads(marker.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_a_run_after_dvc_checkout_trains_on_the_rows_it_records(project_copy: Path) -> None:
    """The issue's case: `reprokit run data.source.rows=N tracking=none; dvc checkout -f;
    reprokit run data.source.rows=N` recorded rows=N on the 10,000-row file DVC restored."""
    shutil.copy2(PROJECT_ROOT / ".gitignore", project_copy / ".gitignore")
    git_init(project_copy)
    run(["dvc", "repro", "data"], project_copy)  # DVC's 10,000-row file, in its cache
    prepare = ["reprokit", "run", "-p", "prepare", "data.source.rows=20000", "tracking=none"]
    run(prepare, project_copy)
    run(["dvc", "checkout", "-f", "data"], project_copy)  # only the data stage is in dvc.lock
    raw = project_copy / DATA_PATH
    assert len(pd.read_parquet(raw)) == 10_000  # the marker now describes another file

    executed = Executions(project_copy, store_client(project_copy))
    recorded = executed("run", ["reprokit", "run", "data.source.rows=20000"]).run
    assert recorded.data.params["data.source.rows"] == "20000"
    assert len(pd.read_parquet(raw)) == 20_000
    assert recorded.data.tags["rk.md5.raw"] == file_md5(raw)
