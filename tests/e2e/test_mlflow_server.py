"""End to end with a real `mlflow server`: runs, artifacts and the registry over HTTP.

The server is a subprocess on 127.0.0.1 (a free port) with a copy of the migrated SQLite
store and its own artifact folder, served through the server (`--serve-artifacts`); it is
always terminated with its whole process group, and the test fails if any of it is left.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import MODEL, artifact_text, copy_project, tool_env
from tests.support.mlflow_server import mlflow_server

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mlflow-server")]


@dataclass(frozen=True)
class Server:
    url: str
    artifacts: Path  # where the server stores what clients upload (--serve-artifacts)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("mlflow-server")
    store = folder / "store.db"
    store.write_bytes(mlflow_db_template.read_bytes())
    artifacts = folder / "artifacts"
    served = ["--artifacts-destination", str(artifacts), "--serve-artifacts"]
    with mlflow_server(f"sqlite:///{store}", folder, folder / "server.log", served) as running:
        yield Server(running.url, artifacts)


def reprokit(project: Path, args: list[str], env: Mapping[str, str] | None = None) -> str:
    result = subprocess.run(
        ["reprokit", *args],
        cwd=project,
        env={**tool_env(project), **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"reprokit {args} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


@dataclass
class Remote:
    server: Server
    project: Path
    client: Any


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory, server: Server) -> Remote:
    """Two executions against the server: the `remote` tracking config, then the
    MLFLOW_TRACKING_URI variable overriding the default local store."""
    from mlflow import MlflowClient

    # No local store in the copy: nothing may be written to one.
    project = copy_project(tmp_path_factory.mktemp("mlflow-remote") / "project")
    reprokit(project, ["run", "tracking=remote", f"tracking.uri={server.url}"])
    reprokit(project, ["run", "model.num_leaves=15"], env={"MLFLOW_TRACKING_URI": server.url})
    return Remote(server, project, MlflowClient(tracking_uri=server.url))


def runs(client: Any) -> list[Any]:
    experiment = client.get_experiment_by_name("reprokit")
    assert experiment is not None
    found = client.search_runs(
        [experiment.experiment_id], order_by=["attributes.start_time ASC"], max_results=100
    )
    return list(found)


def test_both_executions_are_runs_on_the_server(remote: Remote) -> None:
    recorded = runs(remote.client)
    assert [r.info.status for r in recorded] == ["FINISHED", "FINISHED"]
    assert [r.data.params["model.num_leaves"] for r in recorded] == ["31", "15"]
    composed = yaml.safe_load(
        artifact_text(remote.client, recorded[0].info.run_id, "composed_config.yaml")
    )
    assert composed["tracking"]["uri"] == remote.server.url
    last = json.loads((remote.project / ".reprokit/last_run.json").read_text())
    assert last["run_id"] == recorded[1].info.run_id
    assert last["tracking_uri"] == remote.server.url
    assert not (remote.project / "mlruns.db").exists()
    assert not (remote.project / "mlartifacts").exists()


def test_artifacts_are_stored_and_served_by_the_server(remote: Remote, tmp_path: Path) -> None:
    import hashlib

    run_ = runs(remote.client)[0]
    assert run_.info.artifact_uri.startswith("mlflow-artifacts:")
    listed = {item.path for item in remote.client.list_artifacts(run_.info.run_id)}
    assert {"composed_config.yaml", "stage_records.json", "validation_summary.json"} <= listed
    composed = remote.client.download_artifacts(
        run_.info.run_id, "composed_config.yaml", str(tmp_path)
    )
    assert "num_leaves: 31" in Path(composed).read_text(encoding="utf-8")
    model = Path(
        remote.client.download_artifacts(run_.info.run_id, "model/model.txt", str(tmp_path))
    )
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    assert digest == run_.data.tags["rk.model_sha256"]
    on_disk = list(remote.server.artifacts.rglob("model.txt"))
    assert on_disk, "the server's artifact folder holds no model.txt"


def test_the_registry_is_on_the_server(remote: Remote) -> None:
    recorded = runs(remote.client)
    registered = sorted(
        remote.client.search_model_versions(f"name = '{MODEL}'"), key=lambda mv: int(mv.version)
    )
    assert [mv.run_id for mv in registered] == [r.info.run_id for r in recorded]
    aliases = remote.client.get_registered_model(MODEL).aliases
    assert str(aliases["challenger"]) == "2"


def test_reprokit_models_reads_the_server(remote: Remote) -> None:
    out = reprokit(
        remote.project, ["models", "--json"], env={"MLFLOW_TRACKING_URI": remote.server.url}
    )
    assert [row["version"] for row in json.loads(out)["versions"]] == [2, 1]
