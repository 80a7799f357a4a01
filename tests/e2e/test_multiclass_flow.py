"""A multiclass table with no evaluation config: `reprokit run experiment=wine` trains,
evaluates with the multiclass metrics, passes the task's default gate and tracks the run in
the project's SQLite MLflow store; a bound added to the multiclass gate fails the next run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from tests.support import all_runs, artifact_text, copy_project, git_init, run, store_client

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("multiclass")]

REPORTING = "data/08_reporting"
MULTICLASS_METRICS = {"log_loss", "accuracy", "macro_f1", "weighted_f1", "roc_auc_ovr"}


def test_wine_runs_gates_and_tracks_without_an_evaluation_config(
    tmp_path: Path, mlflow_db_template: Path
) -> None:
    root = copy_project(tmp_path / "project", mlflow_db_template)
    assert not (root / "conf/evaluation/wine.yaml").exists()
    preset = yaml.safe_load((root / "conf/experiment/wine.yaml").read_text())
    assert preset == {"defaults": [{"override /data": "wine"}, {"override /features": "auto"}]}
    git_init(root)

    passed = run(["reprokit", "run", "experiment=wine", "serving=none"], root)
    assert "quality gate: passed" in passed.stdout
    metrics = json.loads((root / REPORTING / "metrics.json").read_text())
    assert set(metrics) >= MULTICLASS_METRICS and metrics["n_test"] == 36
    assert metrics["roc_auc_ovr"] >= 0.70  # the multiclass default gate
    per_class = pd.read_csv(root / REPORTING / "plots/per_class.csv")
    assert per_class["class"].tolist() == [0, 1, 2] and per_class["support"].sum() == 36
    assert (root / REPORTING / "figures/per_class.png").is_file()

    client = store_client(root)
    (tracked,) = all_runs(client)
    assert tracked.info.status == "FINISHED"
    assert tracked.data.tags["rk.quality_gate"] == "passed"
    assert tracked.data.params["data.task"] == "multiclass"
    assert set(tracked.data.metrics) >= MULTICLASS_METRICS
    logged = artifact_text(client, tracked.info.run_id, "evaluation_plots/per_class.csv")
    assert logged == (root / REPORTING / "plots/per_class.csv").read_text()

    # A bound the model cannot meet, added to the multiclass gate only, fails the run.
    strict = "+evaluation.gates.multiclass.log_loss.max=0.000001"
    failed = run(["reprokit", "run", "experiment=wine", "serving=none", strict], root, check=False)
    assert failed.returncode != 0
    assert "log_loss" in failed.stderr and "is above max 1e-06" in failed.stderr
    assert "Traceback" not in failed.stderr
    latest = all_runs(client)[-1]
    assert latest.info.status == "FAILED"
    assert latest.data.tags["rk.quality_gate"] == "failed"
