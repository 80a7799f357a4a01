"""The project's experiment opens as a model-training one, and the embedded store has no
empty "Default" experiment next to it."""

from __future__ import annotations

import shutil
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import ViewType
from tests.support import PROJECT_ROOT

from reprokit.config.compose import compose_and_validate
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
