"""Shared fixtures: the project root and throwaway copies of the project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.support import PROJECT_ROOT, copy_project, migrated_mlflow_db

for variable in (
    "KEDRO_DISABLE_TELEMETRY",
    "DO_NOT_TRACK",
    "DVC_NO_ANALYTICS",
    "BENTOML_DO_NOT_TRACK",
    "MLFLOW_DISABLE_TELEMETRY",
):
    os.environ.setdefault(variable, "true")


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def mlflow_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once per test process; tests copy it instead of migrating a fresh store."""
    return migrated_mlflow_db(tmp_path_factory.mktemp("mlflow") / "template.db")


@pytest.fixture
def project_copy(tmp_path: Path, mlflow_db_template: Path) -> Path:
    return copy_project(tmp_path / "project", mlflow_db_template)
