"""train_model: reproducible text models, early stopping, every objective."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from node_data import model_params

from reprokit.errors import ConfigError, DataError
from reprokit.nodes.train import train_model

Prepared = Callable[[str], tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_same_inputs_give_the_same_model(prepared: Prepared) -> None:
    state, train, valid, _ = prepared("binary")
    first, history = train_model(train, valid, state, model_params("binary"), 1)
    second, again = train_model(train, valid, state, model_params("binary"), 1)
    assert sha256(first) == sha256(second)
    assert history == again


def test_thread_count_does_not_change_the_model(prepared: Prepared) -> None:
    state, train, valid, _ = prepared("binary")
    one, _ = train_model(train, valid, state, model_params("binary"), 1)
    two, _ = train_model(train, valid, state, model_params("binary"), 2)
    assert sha256(one) == sha256(two)


def test_seed_changes_the_model(prepared: Prepared) -> None:
    state, train, valid, _ = prepared("binary")
    one, _ = train_model(train, valid, state, model_params("binary"), 1)
    other, _ = train_model(train, valid, state, model_params("binary", seed=12), 1)
    assert sha256(one) != sha256(other)


def test_model_text_is_lightgbm_native_format(prepared: Prepared) -> None:
    state, train, valid, _ = prepared("binary")
    text, history = train_model(train, valid, state, model_params("binary"), 0)
    assert text.startswith("tree\n")
    assert f"feature_names={' '.join(state['feature_names'])}" in text
    assert "[num_threads: 0]" in text
    json.dumps(history)


def test_early_stopping_keeps_the_best_iteration(prepared: Prepared) -> None:
    state, train, valid, _ = prepared("binary")
    params = model_params("binary", learning_rate=0.5, n_estimators=300, early_stopping_rounds=5)
    text, history = train_model(train, valid, state, params, 1)
    assert history["early_stopping"] is True
    assert history["best_iteration"] < history["iterations_trained"] < 300
    assert len(history["valid_metric"]) == history["iterations_trained"]
    best = history["valid_metric"][history["best_iteration"] - 1]
    assert best == min(history["valid_metric"])
    assert text.count("\nTree=") == history["best_iteration"]


def test_empty_valid_trains_every_round(prepared: Prepared) -> None:
    state, train, valid, _ = prepared("binary")
    text, history = train_model(train, valid.iloc[0:0], state, model_params("binary"), 1)
    assert history["early_stopping"] is False
    assert history["best_iteration"] == history["iterations_trained"] == 60
    assert history["valid_metric"] == [] and history["valid_rows"] == 0
    assert text.count("\nTree=") == 60


def test_zero_early_stopping_rounds_disables_it(prepared: Prepared) -> None:
    state, train, valid, _ = prepared("binary")
    params = model_params("binary", early_stopping_rounds=0)
    _, history = train_model(train, valid, state, params, 1)
    assert history["early_stopping"] is False
    assert history["iterations_trained"] == 60 == len(history["valid_metric"])


@pytest.mark.parametrize(
    ("task", "objective", "trees_per_round"),
    [("binary", "binary", 1), ("multiclass", "multiclass", 3), ("regression", "regression", 1)],
)
def test_every_objective_trains(
    prepared: Prepared, task: str, objective: str, trees_per_round: int
) -> None:
    state, train, valid, _ = prepared(task)
    text, history = train_model(train, valid, state, model_params(task), 1)
    assert f"objective={objective}" in text
    assert text.count("\nTree=") == history["best_iteration"] * trees_per_round
    assert history["num_features"] == len(state["feature_names"])
    assert history["train_rows"] == len(train) and history["valid_rows"] == len(valid)
    assert history["params"]["objective"] == objective
    if task == "multiclass":
        assert history["params"]["num_class"] == 3


def test_objective_must_match_the_feature_state(prepared: Prepared) -> None:
    state, train, valid, _ = prepared("binary")
    with pytest.raises(ConfigError, match=r"model\.objective is 'regression'"):
        train_model(train, valid, state, model_params("regression"), 1)


def test_missing_feature_column_is_named(prepared: Prepared) -> None:
    state, train, valid, _ = prepared("binary")
    with pytest.raises(DataError, match=r"train features: .*\['x1'\]"):
        train_model(train.drop(columns=["x1"]), valid, state, model_params("binary"), 1)
