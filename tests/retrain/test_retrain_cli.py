"""`reprokit retrain` refuses what it cannot use before writing anything."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tests.retrain.retrain_project import BATCH_ID_OFFSET, RAW, use_file_source
from tests.support import file_md5, run


@pytest.fixture
def raw_data(project_copy: Path) -> tuple[Path, str]:
    """The copy with 300 rows of its own raw data (`source: {kind: file}`) and their md5; no
    model yet: the checks below come before the drift report, which would need one."""
    use_file_source(project_copy, stages=False)
    run(
        ["reprokit", "data", "generate", "--rows", "300", "--seed", "7", "--output", RAW],
        project_copy,
    )
    return project_copy, file_md5(project_copy / RAW)


def test_a_batch_that_violates_the_schema_names_file_and_columns_and_writes_nothing(
    raw_data: tuple[Path, str],
) -> None:
    project_copy, before = raw_data
    bad = project_copy / "bad.parquet"
    frame = pd.read_parquet(project_copy / RAW)
    frame["customer_id"] += BATCH_ID_OFFSET
    frame.loc[3, "age"] = 5.0
    frame.loc[7, "loan_term_months"] = 13
    frame.to_parquet(bad, index=False)

    result = run(["reprokit", "retrain", "--current", str(bad)], project_copy, check=False)

    assert result.returncode == 2, result.stderr
    assert f"batch {bad}" in result.stderr
    assert "column 'age': 1 bad row" in result.stderr
    assert "column 'loan_term_months': 1 bad row" in result.stderr
    assert "Traceback" not in result.stderr
    assert file_md5(project_copy / RAW) == before
    assert not (project_copy / ".reprokit/retrain").exists()


def test_appending_a_repeated_id_is_refused_before_the_raw_data_changes(
    raw_data: tuple[Path, str],
) -> None:
    project_copy, before = raw_data
    repeated = project_copy / "repeated.parquet"
    pd.read_parquet(project_copy / RAW).head(50).to_parquet(repeated, index=False)

    result = run(
        ["reprokit", "retrain", "--current", str(repeated), "--mode", "append"],
        project_copy,
        check=False,
    )

    assert result.returncode == 2, result.stderr
    assert f"raw data {RAW} after append of the batch" in result.stderr
    assert "customer_id" in result.stderr
    assert file_md5(project_copy / RAW) == before


def test_generated_raw_data_is_refused_naming_the_key_and_the_fix(project_copy: Path) -> None:
    result = run(["reprokit", "retrain", "--current", "new.parquet"], project_copy, check=False)

    assert result.returncode == 1
    assert "data.source.kind is 'synthetic_credit'" in result.stderr
    assert "source: {kind: file}" in result.stderr
