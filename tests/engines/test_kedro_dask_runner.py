"""`kedro run --runner=reprokit.engines.dask.DaskRunner`: Kedro's own CLI runs the Dask
engine, through the same runner as `reprokit run engine=dask`, to the same bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support import copy_project, run

pytestmark = pytest.mark.slow

ROWS = "data.source.rows=20000"
OUTPUTS = (
    "data/06_models/model.txt",
    "data/04_feature/feature_state.json",
    "data/08_reporting/metrics.json",
)


def test_kedro_run_with_the_dask_runner_equals_reprokit_run_engine_dask(
    tmp_path: Path, mlflow_db_template: Path
) -> None:
    from mlflow import MlflowClient

    project = copy_project(tmp_path / "project", mlflow_db_template)
    run(["reprokit", "config", "compose", "engine=dask", ROWS], project)
    run(["reprokit", "data", "prepare"], project)
    kedro = run(["kedro", "run", "--runner=reprokit.engines.dask.DaskRunner"], project)
    assert "dask.cluster.start" in kedro.stderr + kedro.stdout
    from_kedro = {path: (project / path).read_bytes() for path in OUTPUTS}
    assert b"[tree_learner: data]" in from_kedro["data/06_models/model.txt"]
    assert (project / "data/03_primary/train.parquet").is_dir()  # a Dask table: parts

    run(["reprokit", "run", "engine=dask", ROWS], project)
    assert {path: (project / path).read_bytes() for path in OUTPUTS} == from_kedro

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlruns.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, order_by=["attributes.start_time ASC"])
    assert [r.data.tags["mlflow.source.name"] for r in runs] == ["kedro run", "reprokit run"]
    assert {r.data.params["engine.kind"] for r in runs} == {"dask"}
    assert {r.info.status for r in runs} == {"FINISHED"}
