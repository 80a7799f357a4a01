"""The project's experiment opens as a model-training one, its runs-table view shows the
metrics, and the embedded store has no empty "Default" experiment next to it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import ViewType
from tests.support import PROJECT_ROOT

from reprokit.config.compose import compose_and_validate
from reprokit.tracking.run_view import RUNS_VIEW_TAG, runs_page, runs_table_view
from reprokit.tracking.store import ALL_RUNS, EXPERIMENT_KIND_TAG, experiment_id


def _client(tmp_path: Path, template: Path) -> MlflowClient:
    db = tmp_path / "mlruns.db"
    shutil.copy(template, db)
    return MlflowClient(tracking_uri=f"sqlite:///{db}")


def test_created_experiment_is_model_training_and_default_is_retired(
    tmp_path: Path, mlflow_db_template: Path
) -> None:
    client = _client(tmp_path, mlflow_db_template)
    config = compose_and_validate(PROJECT_ROOT)[1]
    created = client.get_experiment(experiment_id(client, config, tmp_path))
    assert created.tags[EXPERIMENT_KIND_TAG] == "custom_model_development"
    active = [e.name for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    assert active == [config.tracking.experiment]


def test_a_default_experiment_in_use_stays(tmp_path: Path, mlflow_db_template: Path) -> None:
    client = _client(tmp_path, mlflow_db_template)
    client.create_run("0")  # somebody records into Default
    experiment_id(client, compose_and_validate(PROJECT_ROOT)[1], tmp_path)
    assert client.get_experiment("0").lifecycle_stage == "active"
    assert ViewType.ALL == ALL_RUNS


def test_an_experiment_made_by_an_older_reprokit_gets_the_kind(
    tmp_path: Path, mlflow_db_template: Path
) -> None:
    client = _client(tmp_path, mlflow_db_template)
    config = compose_and_validate(PROJECT_ROOT)[1]
    older = client.create_experiment(config.tracking.experiment)  # no kind tag
    assert experiment_id(client, config, tmp_path) == older
    assert client.get_experiment(older).tags[EXPERIMENT_KIND_TAG] == "custom_model_development"


def test_the_runs_view_follows_the_task_and_is_updated_when_it_changes(
    tmp_path: Path, mlflow_db_template: Path
) -> None:
    client = _client(tmp_path, mlflow_db_template)
    binary = compose_and_validate(PROJECT_ROOT)[1]
    created = experiment_id(client, binary, tmp_path)
    view = json.loads(client.get_experiment(created).tags[RUNS_VIEW_TAG])
    assert view["selectedColumns"][2] == "metrics.`roc_auc`"  # the primary metric first
    assert view["orderByKey"] == "metrics.`roc_auc`" and view["orderByAsc"] is False

    regression = binary.model_copy(
        update={"data": binary.data.model_copy(update={"task": "regression"})}
    )
    regression = regression.model_copy(
        update={"evaluation": binary.evaluation.model_copy(update={"gate": {}})}
    )
    assert experiment_id(client, regression, tmp_path) == created
    view = json.loads(client.get_experiment(created).tags[RUNS_VIEW_TAG])
    assert view["orderByKey"] == "metrics.`rmse`" and view["orderByAsc"] is True


def test_the_runs_view_lists_each_metric_once_primary_first() -> None:
    view = json.loads(runs_table_view("roc_auc", True, ["f1", "roc_auc", "log_loss", "f1"]))
    assert view["selectedColumns"] == [
        "attributes.`Source`",
        "attributes.`Models`",
        "metrics.`roc_auc`",
        "metrics.`f1`",
        "metrics.`log_loss`",
    ]
    assert view["columnOrder"] == view["selectedColumns"]
    assert runs_page("7") == (
        "/#/experiments/7/runs?workflowType=machine_learning&viewStateShareKey=reprokit"
    )
