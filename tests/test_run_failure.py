"""`reprokit run` whose split fails on a tiny dataset leaves no new `primary.parquet`
behind (ingest had written it): the outputs of a failed run are put back as they were."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.project import copy_project
from tests.support.tools import run


@pytest.mark.slow
def test_a_failed_run_leaves_the_previous_outputs_as_they_were(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    primary = project / "data" / "02_intermediate" / "primary.parquet"
    primary.write_bytes(b"the previous result")
    # 10 synthetic rows with one positive: ingest succeeds, the stratified split cannot.
    args = ["reprokit", "run", "tracking=none", "data.source.rows=10"]
    result = run(args, project, check=False)
    assert result.returncode == 1
    assert "cannot split 10 row(s) stratified" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert primary.read_bytes() == b"the previous result"
    assert sorted(p.name for p in primary.parent.iterdir()) == ["primary.parquet"]
