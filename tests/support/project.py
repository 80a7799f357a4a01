"""Throwaway copies of the project, as git repositories when DVC needs one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.tools import run, tool_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# What a copy of the project needs: config, generated files, DVC's config, the code (the
# stages' deps), and packaging metadata. Never data, caches or the venv.
PROJECT_FILES = (
    "conf",
    "src",
    "params.yaml",
    "dvc.yaml",
    "pyproject.toml",
    "uv.lock",
    "bentofile.yaml",
    "requirements",
    ".dvc/config",
    ".telemetry",
    "README.md",
    # The generated Feast repo (the `materialize` stage reads it).
    "feature_repo",
)
DATA_LAYERS = (
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
)


def copy_project(destination: Path, mlflow_db: Path | None = None) -> Path:
    """A copy of the project's config, code and generated files in `destination`; with
    `mlflow_db`, a copy of that migrated store as the project's `mlruns.db`."""
    for name in PROJECT_FILES:
        source = PROJECT_ROOT / name
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, target)
    for layer in DATA_LAYERS:
        (destination / "data" / layer).mkdir(parents=True, exist_ok=True)
    if mlflow_db is not None:
        shutil.copy2(mlflow_db, destination / "mlruns.db")
    return destination


def git_init(path: Path) -> None:
    """DVC wants a git repository; commit everything so `dvc status` has a baseline."""
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "copy"],
    ):
        subprocess.run(command, cwd=path, check=True, env=tool_env())


def commit_all(cwd: Path, message: str) -> None:
    run(["git", "add", "-A"], cwd)
    run(["git", "commit", "-q", "-m", message, "--allow-empty"], cwd)
