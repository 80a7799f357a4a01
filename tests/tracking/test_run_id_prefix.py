"""Run ids by a unique prefix, as `reprokit runs` shows them (8 characters)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient

from reprokit.tracking.runs import (
    RunNotFoundError,
    fetch_run,
    is_id_prefix,
    matching_run_ids,
    resolve_run_id,
)


def test_what_counts_as_a_prefix() -> None:
    assert is_id_prefix("57552a")
    assert not is_id_prefix("57552")  # too short to mean one run
    assert not is_id_prefix("a" * 32)  # a full id is used as it is
    assert not is_id_prefix("57552A26")  # run ids are lowercase hex
    assert not is_id_prefix("reprokit-credit/1")


def test_matching_is_by_start_only() -> None:
    ids = ["abcdef01" + "0" * 24, "abcdef02" + "0" * 24, "00abcdef" + "0" * 24]
    assert matching_run_ids("abcdef", ids) == sorted(ids[:2])
    assert matching_run_ids("abcdef01", ids) == [ids[0]]


def test_a_real_store_resolves_unique_prefixes_and_names_the_failures(
    tmp_path: Path, mlflow_db_template: Path
) -> None:
    db = tmp_path / "mlruns.db"
    shutil.copy(mlflow_db_template, db)
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    runs = [client.create_run("0").info.run_id for _ in range(3)]
    target = runs[0]
    unique = next(
        target[:n] for n in range(6, 33) if matching_run_ids(target[:n], runs) == [target]
    )
    assert resolve_run_id(client, unique) == target
    assert fetch_run(client, unique).run_id == target
    assert resolve_run_id(client, target) == target
    with pytest.raises(RunNotFoundError, match="no run id starts with 'ffffff'"):
        resolve_run_id(client, "ffffff" if not target.startswith("ffffff") else "eeeeee")
