"""The retraining loop's starting point, shared by its end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.retrain.retrain_project import file_sourced
from tests.support import copy_project, run
from tests.support.templates import template

ROWS = 4000


@pytest.fixture(scope="session")
def first_repro_template(
    tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path
) -> Path:
    """A project with ROWS rows of user-provided raw data (`file_sourced`) after its first
    `dvc repro` (v1: trained, registered champion, packaged), once per session. Copy it
    with `tests.support.templates.relocated_copy`."""

    def build(directory: Path) -> None:
        project = file_sourced(copy_project(directory / "project", mlflow_db_template), ROWS)
        run(["dvc", "repro"], project)

    return template(tmp_path_factory, "retrain-first-repro", build) / "project"
