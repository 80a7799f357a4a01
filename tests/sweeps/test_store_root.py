"""A queued DVC experiment runs in a temporary copy: its run must land in the project's store."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprokit.config.compose import workspace_from_conf
from reprokit.tracking.store import artifact_location, store_root, tracking_uri


def test_the_store_is_the_projects_in_a_queued_dvc_experiment(
    project_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = workspace_from_conf(project_root).config
    temp_copy = tmp_path / ".dvc/tmp/exps/run/abc"
    temp_copy.mkdir(parents=True)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    # A stage of `dvc repro` (DVC_ROOT set, no experiment): the project itself.
    assert store_root(temp_copy) == temp_copy
    monkeypatch.setenv("DVC_EXP_NAME", "queued-exp")
    assert store_root(temp_copy) == tmp_path
    assert tracking_uri(config, temp_copy) == f"sqlite:///{(tmp_path / 'mlruns.db').resolve()}"
    location = artifact_location(config, temp_copy)
    assert location == (tmp_path / "mlartifacts").resolve().as_uri()
