"""Shared fixtures: the project root, and throwaway copies of the project for e2e tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# What a copy of the project needs: config, generated files, DVC's config, the code (the
# stages' deps), and packaging metadata. Never data, caches or the venv.
PROJECT_FILES = (
    "conf",
    "src",
    "params.yaml",
    "dvc.yaml",
    "pyproject.toml",
    ".dvc/config",
    ".telemetry",
    "README.md",
)

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


def copy_project(destination: Path) -> Path:
    """A copy of the project's config, code and generated files in `destination`."""
    for name in PROJECT_FILES:
        source = PROJECT_ROOT / name
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, target)
    for layer in (
        "01_raw",
        "02_intermediate",
        "03_primary",
        "04_feature",
        "05_model_input",
        "06_models",
        "07_model_output",
        "08_reporting",
    ):
        (destination / "data" / layer).mkdir(parents=True, exist_ok=True)
    return destination


def git_init(path: Path) -> None:
    """DVC wants a git repository; commit everything so `dvc status` has a baseline."""
    environment = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "copy"],
    ):
        subprocess.run(command, cwd=path, check=True, env=environment)


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")
