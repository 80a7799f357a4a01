"""`reprokit run engine=dask` end to end: a local cluster of 2 worker processes on loopback.

Each run is a real subprocess in a project copy with a real MLflow store; its process tree
is sampled while it runs, so a process left behind after it exits is found.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.support import copy_project, run, tool_env

pytestmark = pytest.mark.slow

ROWS = "data.source.rows=20000"
AUC_TOLERANCE = 0.01  # stated in the README: distributed LightGBM is not bit-identical
MODEL = "data/06_models/model.txt"
STATE = "data/04_feature/feature_state.json"
METRICS = "data/08_reporting/metrics.json"


@dataclass
class Watched:
    """A finished run, with every process its tree had while it ran."""

    returncode: int
    stderr: str
    pids: set[int] = field(default_factory=set)

    def survivors(self) -> list[int]:
        import psutil

        alive = []
        for pid in self.pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                continue
        return alive


def watched_run(
    project: Path, args: list[str], on_line: Any = None, timeout: float = 300
) -> Watched:
    """Run `reprokit` in `project`, sampling its process tree; `on_line(line, children)`
    sees each stderr line as it arrives."""
    import psutil

    pids: set[int] = set()
    lines: list[str] = []
    done = threading.Event()
    with subprocess.Popen(
        ["reprokit", *args],
        cwd=project,
        env={**tool_env(project), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        root = psutil.Process(process.pid)

        def sample() -> None:
            while not done.wait(0.1):
                try:
                    pids.update(child.pid for child in root.children(recursive=True))
                except psutil.NoSuchProcess:
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        assert process.stderr is not None
        deadline = time.monotonic() + timeout
        for line in process.stderr:
            lines.append(line)
            if on_line is not None:
                on_line(line, root)
            assert time.monotonic() < deadline, "the run did not finish in time"
        process.wait(timeout=60)
        done.set()
        sampler.join()
    return Watched(process.returncode, "".join(lines), pids)


def latest_run(project: Path) -> Any:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlruns.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0]


@dataclass
class Runs:
    project: Path
    local: dict[str, Any]
    local_run: Any
    dask: Watched
    dask_run: Any
    models: tuple[str, str]  # the model of the full run, and of training again on its data


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Iterator[Runs]:
    project = copy_project(tmp_path_factory.mktemp("dask-run") / "project", mlflow_db_template)
    run(["reprokit", "run", ROWS], project)
    local = {
        name: json.loads((project / path).read_text(encoding="utf-8"))
        for name, path in (("state", STATE), ("metrics", METRICS))
    }
    local_run = latest_run(project)
    dask = watched_run(project, ["run", "engine=dask", ROWS])
    assert dask.returncode == 0, dask.stderr[-4000:]
    dask_run = latest_run(project)
    first = (project / MODEL).read_text(encoding="utf-8")
    run(["reprokit", "run", "engine=dask", ROWS, "-p", "train", "tracking=none"], project)
    second = (project / MODEL).read_text(encoding="utf-8")
    yield Runs(project, local, local_run, dask, dask_run, (first, second))


def test_the_default_pipeline_runs_on_two_worker_processes(runs: Runs) -> None:
    assert "dask.cluster.start" in runs.dask.stderr and "workers=2" in runs.dask.stderr
    assert "dask.train.start" in runs.dask.stderr
    # Tables are folders of Parquet parts; pandas reads them as one table.
    import pandas as pd

    train = runs.project / "data/03_primary/train.parquet"
    assert train.is_dir() and sorted(p.name for p in train.iterdir())[0] == "part.0.parquet"
    assert len(pd.read_parquet(train)) == 14000


def test_fitted_state_equals_the_pandas_engine(runs: Runs) -> None:
    state = json.loads((runs.project / STATE).read_text(encoding="utf-8"))
    assert state == runs.local["state"]


def test_test_metrics_are_within_the_stated_tolerance(runs: Runs) -> None:
    metrics = json.loads((runs.project / METRICS).read_text(encoding="utf-8"))
    assert metrics["n_test"] == runs.local["metrics"]["n_test"]
    assert abs(metrics["roc_auc"] - runs.local["metrics"]["roc_auc"]) <= AUC_TOLERANCE


def test_the_model_is_lightgbm_text_trained_data_parallel(runs: Runs) -> None:
    import lightgbm as lgb

    text = runs.models[0]
    assert "[tree_learner: data]" in text
    booster = lgb.Booster(model_str=text)
    assert booster.feature_name() == runs.local["state"]["feature_names"]


def test_training_again_on_the_same_partitions_gives_the_same_model_file(runs: Runs) -> None:
    first, second = runs.models
    assert first == second


def test_the_run_is_tracked_with_the_engine_in_its_config_and_fingerprint(runs: Runs) -> None:
    dask_run, local_run = runs.dask_run, runs.local_run
    assert dask_run.info.status == "FINISHED"
    assert dask_run.data.params["engine.kind"] == "dask"
    assert local_run.data.params["engine.kind"] == "local"
    fingerprint = next(key for key in dask_run.data.tags if "fingerprint" in key)
    assert dask_run.data.tags[fingerprint] != local_run.data.tags[fingerprint]


def test_no_process_outlives_the_run(runs: Runs) -> None:
    assert len(runs.dask.pids) >= 2  # the two workers were seen
    assert runs.dask.survivors() == []


def test_the_dask_trained_model_serves_through_the_same_bentoml_service(
    runs: Runs, tmp_path: Path
) -> None:
    import httpx
    import lightgbm as lgb
    import numpy as np
    import pandas as pd
    from tests.support.serving import API_KEY, bentoml_env, bentoml_server
    from tests.support.tools import stdout_of

    from reprokit.serving.batch import frame_to_records

    project = runs.project
    env = bentoml_env(project, tmp_path / "bentoml")
    tag = stdout_of(["reprokit", "package"], project, env).strip().split()[-1]
    serving_env = {**env, "REPROKIT_MODEL_TAG": tag}
    with bentoml_server(project, serving_env, tmp_path / "serve.log") as url:
        test = pd.read_parquet(project / "data/03_primary/test.parquet")  # a folder of parts
        response = httpx.post(
            f"{url}/predict",
            json={"records": frame_to_records(test.drop(columns=["default"]).head(500))},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=60,
        )
    assert response.status_code == 200, response.text[:2000]
    body = response.json()
    assert body["model"]["tag"] == tag
    assert body["model"]["mlflow_run_id"] == runs.dask_run.info.run_id
    features = pd.read_parquet(project / "data/05_model_input/test_features.parquet").head(500)
    matrix = features[runs.local["state"]["feature_names"]].to_numpy(dtype=np.float64)
    offline = lgb.Booster(model_str=runs.models[0]).predict(matrix)
    online = np.array([p["probabilities"]["1"] for p in body["predictions"]])
    assert np.array_equal(online, offline)  # the Dask engine's model and features, served


def test_the_pandas_engine_reads_what_the_dask_engine_wrote(runs: Runs) -> None:
    # Folders of parts are replaced by files again, atomically.
    run(["reprokit", "run", ROWS, "-p", "features"], runs.project)
    assert (runs.project / "data/05_model_input/train_features.parquet").is_file()


def test_a_killed_worker_fails_the_run_clearly_and_leaves_no_model(
    tmp_path: Path, mlflow_db_template: Path
) -> None:
    import psutil

    project = copy_project(tmp_path / "project", mlflow_db_template)
    killed: list[int] = []

    def kill_a_worker(line: str, root: Any) -> None:
        if killed or "dask.train.start" not in line:
            return
        time.sleep(1.0)  # LightGBM is training on both workers now
        workers = [
            child
            for child in root.children(recursive=True)
            if "multiprocessing" in " ".join(child.cmdline())
            and "resource_tracker" not in " ".join(child.cmdline())
        ]
        assert workers, "no worker process found"
        killed.append(workers[0].pid)
        workers[0].send_signal(signal.SIGKILL)

    # Enough rounds that training is still going when the worker is killed.
    args = ["run", "engine=dask", ROWS, "model.n_estimators=4000", "model.num_leaves=63"]
    result = watched_run(project, args, kill_a_worker)
    assert killed, "the run never reached training"
    assert result.returncode != 0
    assert "error:" in result.stderr
    assert "distributed LightGBM training" in result.stderr.split("error:")[-1]
    assert latest_run(project).info.status == "FAILED"
    models = project / "data/06_models"
    assert not (models / "model.txt").exists()
    assert not [p.name for p in models.iterdir() if p.name.endswith(".tmp")]
    assert psutil.pid_exists(killed[0]) is False or psutil.Process(killed[0]).status() == "zombie"
    assert result.survivors() == []
