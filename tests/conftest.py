"""Shared fixtures: the project root and throwaway copies of the project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.support import PROJECT_ROOT, copy_project

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


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")
