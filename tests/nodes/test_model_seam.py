"""Each learner behind the model seam: fit -> native artifact -> load -> same predictions,
reproducible bytes, and the nodes (train, evaluate, profile) working with either kind."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from node_data import model_params

from reprokit.errors import DataError
from reprokit.models import IterationScore, get_model, load_model
from reprokit.nodes.evaluate import evaluate_model
from reprokit.nodes.features import model_inputs, parse_state
from reprokit.nodes.train import train_model

Prepared = Callable[[str], tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]]
XGBOOST: dict[str, Any] = {
    "kind": "xgboost",
    "learning_rate": 0.3,
    "n_estimators": 40,
    "early_stopping_rounds": 5,
    "max_depth": 3,
    "nthread": 1,
    "seed": 11,
}


def params_for(kind: str, task: str) -> dict[str, Any]:
    if kind == "lightgbm":
        return model_params(task)
    return {**XGBOOST, "objective": task}


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_fit_save_load_gives_the_same_predictions(prepared: Prepared, kind: str, task: str) -> None:
    state, train, valid, test = prepared(task)
    artifact, history = train_model(train, valid, state, params_for(kind, task), 1)
    again, _ = train_model(train, valid, state, params_for(kind, task), 2)
    assert hashlib.sha256(artifact.encode()).digest() == hashlib.sha256(again.encode()).digest()
    fitted = parse_state(state)
    matrix, _ = model_inputs(test, fitted, "test")
    learner = get_model(kind)
    in_process = learner.load(artifact).predict(matrix)
    # The artifact is all a reader gets: the registry finds the learner by its format.
    loaded = load_model(artifact, fitted.feature_names)
    assert isinstance(loaded, type(learner.load(artifact)))
    np.testing.assert_array_equal(loaded.predict(matrix), in_process)
    expected_shape = (len(test), 3) if task == "multiclass" else (len(test),)
    assert in_process.shape == expected_shape
    assert history["best_iteration"] <= history["iterations_trained"]


def test_xgboost_model_is_native_json_cut_at_the_best_iteration(prepared: Prepared) -> None:
    import json

    state, train, valid, _ = prepared("binary")
    params = {**params_for("xgboost", "binary"), "learning_rate": 0.9, "n_estimators": 200}
    artifact, history = train_model(train, valid, state, params, 1)
    model = json.loads(artifact)
    assert model["learner"]["feature_names"] == state["feature_names"]
    trees = model["learner"]["gradient_booster"]["model"]["trees"]
    assert history["early_stopping"] is True
    assert len(trees) == history["best_iteration"] < history["iterations_trained"]


def test_xgboost_evaluates_and_checks_features(prepared: Prepared) -> None:
    state, train, valid, test = prepared("binary")
    artifact, _ = train_model(train, valid, state, params_for("xgboost", "binary"), 1)
    metrics, tables, _ = evaluate_model(artifact, test, state, {})
    assert metrics["roc_auc"] > 0.6
    importance = tables["feature_importance"]
    assert sorted(importance["feature"]) == sorted(state["feature_names"])
    assert importance["gain"].iloc[0] > 0
    other = {**state, "feature_names": list(reversed(state["feature_names"]))}
    with pytest.raises(DataError, match="feature state names"):
        load_model(artifact, parse_state(other).feature_names)


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_observers_see_each_iterations_validation_loss(prepared: Prepared, kind: str) -> None:
    state, train, valid, _ = prepared("binary")
    seen: list[IterationScore] = []
    train_model(train, valid, state, params_for(kind, "binary"), 1, callbacks=[seen.append])
    assert [score.iteration for score in seen] == list(range(len(seen)))
    assert len(seen) > 3
    assert all(not score.higher_is_better for score in seen)
