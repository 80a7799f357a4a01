"""The whole flow with XGBoost (`model=xgboost`) and the real tools: `dvc repro` (train,
evaluate, gate, track into the SQLite MLflow store), `reprokit reproduce` IDENTICAL,
`reprokit package`, a real `bentoml serve` answering /predict exactly as the model does
in process, and `reprokit monitor` on a fresh batch.

One test, in order, because each step needs the previous one's state (and a dvc repro,
a package and a server start cost tens of seconds each).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.support import commit_all, copy_project, git_init, run
from tests.support.mlflow_store import MODEL as REGISTERED
from tests.support.mlflow_store import store_client
from tests.support.serving import bentoml_env, bentoml_server, predict
from tests.support.tools import stdout_of

from reprokit.models import load_model
from reprokit.serving.batch import frame_to_records

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("xgboost")]

MODEL = "data/06_models/model.txt"


def use_xgboost(root: Path) -> None:
    """Choose the learner as a user does: the `model` group in conf/config.yaml."""
    config = root / "conf/config.yaml"
    text = config.read_text()
    assert "  - model: lightgbm\n" in text
    config.write_text(text.replace("  - model: lightgbm\n", "  - model: xgboost\n"))
    run(["reprokit", "config", "compose"], root)
    run(["reprokit", "dvc", "generate"], root)


def logged_flavour(root: Path) -> tuple[str, str]:
    """The MLflow flavour and model format of the champion's registered model version."""
    import mlflow

    from reprokit.tracking.store import fluent_tracking_uri

    client = store_client(root)
    version = client.get_model_version_by_alias(REGISTERED, "champion")
    # Scoped: `mlflow.set_tracking_uri` exports MLFLOW_TRACKING_URI to the whole worker,
    # and every later in-process test then read this test's store.
    with fluent_tracking_uri(client.tracking_uri):
        flavours = mlflow.models.get_model_info(version.source).flavors
    return next(name for name in flavours if name != "python_function"), str(
        flavours["xgboost"]["model_format"]
    )


def test_xgboost_trains_tracks_reproduces_serves_and_monitors(
    tmp_path: Path, mlflow_db_template: Path
) -> None:
    root = copy_project(tmp_path / "project", mlflow_db_template)
    use_xgboost(root)
    git_init(root)

    run(["dvc", "repro"], root)  # data, prepare, features, train, evaluate (gate), track, package
    artifact = (root / MODEL).read_text()
    model = json.loads(artifact)  # XGBoost's native JSON, not LightGBM's text
    assert "gradient_booster" in model["learner"]
    metrics = json.loads((root / "data/08_reporting/metrics.json").read_text())
    assert metrics["roc_auc"] >= 0.70  # the default gate passed
    last = json.loads((root / ".reprokit/last_run.json").read_text())
    run_id = str(last["run_id"])
    assert logged_flavour(root) == ("xgboost", "json")
    commit_all(root, "xgboost repro")

    reproduced = run(["reprokit", "reproduce", run_id], root)
    assert reproduced.stdout.strip().splitlines()[-1] == "IDENTICAL"

    # dvc repro's package stage saved the model into the project's own BentoML store;
    # packaging again finds it there instead of saving a second copy.
    env = bentoml_env(root, root / ".bentoml")
    packaged = stdout_of(["reprokit", "package"], root, env).strip()
    assert packaged.startswith("already packaged: reprokit-credit:"), packaged
    state = json.loads((root / "data/04_feature/feature_state.json").read_text())
    features = pd.read_parquet(root / "data/05_model_input/test_features.parquet")
    matrix = features[state["feature_names"]].to_numpy(dtype=np.float64, na_value=np.nan)
    offline = load_model(artifact, state["feature_names"]).predict(matrix)
    test = pd.read_parquet(root / "data/03_primary/test.parquet")
    records = frame_to_records(test.drop(columns=[state["target"]]))
    with bentoml_server(root, env, tmp_path / "serve.log") as url:
        response = predict(url, {"records": records})
    assert response.status_code == 200, response.text[:2000]
    body = response.json()
    online = np.array([p["probabilities"]["1"] for p in body["predictions"]])
    assert np.array_equal(online, offline)  # exactly, not approximately
    assert body["model"]["mlflow_run_id"] == run_id

    run(["reprokit", "data", "generate", "--rows", "3000", "--seed", "11",
         "--output", "data/fresh.parquet"], root)  # fmt: skip
    monitored = run(["reprokit", "monitor", "--current", "data/fresh.parquet"], root)
    summary_path = next((root / "data/08_reporting/monitoring").glob("*-summary.json"))
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "ok", monitored.stdout
    assert summary["scored_by"] == "model"  # the XGBoost model scored the batch
    assert summary["reference"]["run_id"] == run_id
