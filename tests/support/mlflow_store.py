"""A project copy's MLflow SQLite store: a migrated template, a client on the copy's own
store, and the runs and registered versions each execution added."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.project import copy_project
from tests.support.tools import run

MODEL = "reprokit-credit"  # tracking.registered_model of the default config
EXPERIMENT = "reprokit"  # tracking.experiment of the default config


def migrated_mlflow_db(path: Path) -> Path:
    """An MLflow SQLite store with its migrations applied (~7 s), to copy per test."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def registry_with_versions(directory: Path, template: Path, versions: int) -> tuple[str, Any]:
    """A copy of the migrated `template` in `directory` holding registered model `m` with
    `versions` versions (1..n): its URI and a client on it."""
    import shutil

    from mlflow import MlflowClient

    database = directory / "mlruns.db"
    shutil.copy(template, database)
    uri = f"sqlite:///{database}"
    client = MlflowClient(tracking_uri=uri)
    client.create_registered_model("m")
    for _ in range(versions):
        client.create_model_version("m", source=str(directory), run_id=None)
    return uri, client


def store_client(project: Path) -> Any:
    """A client on the copy's own SQLite store (never the MLFLOW_TRACKING_URI of the shell)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlruns.db'}")


def all_runs(client: Any) -> list[Any]:
    """Every run of every experiment, oldest first."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    return list(
        client.search_runs(experiments, order_by=["attributes.start_time ASC"], max_results=1000)
    )


@dataclass
class Executed:
    """One command and the runs it added to the store."""

    result: subprocess.CompletedProcess[str]
    runs: list[Any]

    @property
    def run(self) -> Any:
        assert len(self.runs) == 1, f"expected one new run, got {len(self.runs)}"
        return self.runs[0]


@dataclass
class Executions:
    """Runs commands in a project copy, recording which runs each one added."""

    project: Path
    client: Any
    steps: dict[str, Executed] = field(default_factory=dict)

    def __call__(self, step: str, args: Sequence[str], check: bool = True) -> Executed:
        before = {r.info.run_id for r in all_runs(self.client)}
        result = run(list(args), self.project, check=check)
        added = [r for r in all_runs(self.client) if r.info.run_id not in before]
        self.steps[step] = Executed(result, added)
        return self.steps[step]


def executions_in_copy(base: Path, mlflow_db: Path) -> Executions:
    """Executions in a fresh project copy under `base`, with its own copy of the store."""
    project = copy_project(base / "project", mlflow_db)
    return Executions(project, store_client(project))


def artifact_text(client: Any, run_id: str, path: str) -> str:
    with tempfile.TemporaryDirectory() as folder:
        local = client.download_artifacts(run_id, path, folder)
        return Path(local).read_text(encoding="utf-8")


def artifact_bytes(client: Any, run_id: str, path: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return Path(client.download_artifacts(run_id, path, folder)).read_bytes()


def aliases(client: Any, model: str = MODEL) -> dict[str, str]:
    registered = client.get_registered_model(model)
    return {str(alias): str(version) for alias, version in registered.aliases.items()}


def versions(client: Any, model: str = MODEL) -> list[Any]:
    """Registered versions, oldest first."""
    found = client.search_model_versions(filter_string=f"name = '{model}'")
    return sorted(found, key=lambda mv: int(mv.version))
