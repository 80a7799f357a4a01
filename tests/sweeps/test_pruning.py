"""Pruning `reprokit tune` trials: real LightGBM training reporting to a real Optuna study."""

from __future__ import annotations

from functools import cache
from typing import Any

import optuna
import pandas as pd
import pytest
from kedro.pipeline import Pipeline, node
from tests.nodes.node_data import ID, SPLIT, TARGET, fit, make_frame, model_params

from reprokit.nodes.features import transform_features
from reprokit.nodes.split import split_frame
from reprokit.nodes.train import train_model
from reprokit.sweeps.errors import TrialPrunedError
from reprokit.sweeps.pruning import (
    intermediate_score,
    make_pruner,
    node_callbacks_adapter,
    pruning_callback,
)

Splits = tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]


@cache
def splits() -> Splits:
    train, valid, _ = split_frame(make_frame("binary", rows=2000), SPLIT, TARGET, "binary", ID)
    state = fit(train, "binary")
    return state, transform_features(train, state), transform_features(valid, state)


def train(learning_rate: float, callbacks: list[Any]) -> str:
    state, train_x, valid_x = splits()
    params = model_params("binary", learning_rate=learning_rate)
    text, _ = train_model(train_x, valid_x, state, params, 1, callbacks=callbacks)
    return text


def test_scores_follow_the_study_direction() -> None:
    # A lower-is-better log loss reported to a maximised study is negated, and kept as is
    # for a minimised one; a higher-is-better AUC is the other way round.
    assert intermediate_score(0.3, higher_is_better=False, maximize=True) == -0.3
    assert intermediate_score(0.3, higher_is_better=False, maximize=False) == 0.3
    assert intermediate_score(0.8, higher_is_better=True, maximize=True) == 0.8
    assert intermediate_score(0.8, higher_is_better=True, maximize=False) == -0.8


def test_a_trial_behind_the_median_is_pruned_and_the_first_is_not() -> None:
    study = optuna.create_study(
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=5),
    )
    good = study.ask()
    train(0.3, [pruning_callback(good, maximize=True)])
    reported = good.storage.get_trial(good._trial_id).intermediate_values
    assert len(reported) > 5 and all(value < 0 for value in reported.values())  # -log loss
    study.tell(good, 0.9)

    slow = study.ask()
    # Warm-up is 5 steps (iterations 1-5); the first judged is iteration 6.
    with pytest.raises(TrialPrunedError, match=r"pruned at iteration 6: valid binary_logloss"):
        train(1e-4, [pruning_callback(slow, maximize=True)])
    study.tell(slow, state=optuna.trial.TrialState.PRUNED)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "PRUNED"]


def test_the_none_pruner_never_prunes() -> None:
    study = optuna.create_study(direction="maximize", pruner=make_pruner("none"))
    study.tell(study.ask(), 0.9)
    trial = study.ask()
    train(1e-4, [pruning_callback(trial, maximize=True)])  # no TrialPrunedError


def test_the_adapter_binds_callbacks_into_the_train_node_only() -> None:
    seen: list[int] = []
    pipeline = Pipeline(
        [
            node(train_model, ["a", "b", "c", "d", "e"], ["model", "history"], name="train"),
            node(transform_features, ["f", "g"], "h", name="transform"),
        ]
    )
    adapted = node_callbacks_adapter([lambda env: seen.append(env.iteration)])(pipeline)
    by_name = {n.name: n.func for n in adapted.nodes}
    assert by_name["transform"] is transform_features
    bound = by_name["train"]
    # Same module and name: the Dask engine still finds its implementation by import path.
    assert (bound.__module__, bound.__qualname__) == ("reprokit.nodes.train", "train_model")
    state, train_x, valid_x = splits()
    text, _ = bound(train_x, valid_x, state, model_params("binary"), 1)
    assert seen and seen[0] == 0
    # Callbacks observe: the model is the one trained without them.
    assert text == train_model(train_x, valid_x, state, model_params("binary"), 1)[0]
