"""Train a LightGBM model, reproducibly, and return it in LightGBM's native text format."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from reprokit.config.models import ModelConfig
from reprokit.errors import ConfigError
from reprokit.nodes._common import parse_section, require_rows
from reprokit.nodes.features import FeatureState, model_inputs, parse_state

VALID_NAME = "valid"
METRIC_BY_OBJECTIVE = {
    "binary": "binary_logloss",
    "multiclass": "multi_logloss",
    "regression": "rmse",
}
# LightGBM seeds are C ints; derived seeds stay in range whatever the configured seed.
_SEED_MODULUS = 2**31 - 1
_SEED_OFFSETS = {
    "seed": 0,
    "bagging_seed": 1,
    "feature_fraction_seed": 2,
    "data_random_seed": 3,
    "extra_seed": 4,
    "drop_seed": 5,
    "objective_seed": 6,
}


def train_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    state: Mapping[str, Any],
    model: Mapping[str, Any],
    num_threads: int,
    *,
    callbacks: Sequence[Callable[[Any], None]] = (),
) -> tuple[str, dict[str, Any]]:
    """Train LightGBM on the transformed train split, early-stopping on the valid split.

    Args:
        train: Transformed train split (`transform_features` output).
        valid: Transformed valid split; empty disables early stopping.
        state: The fitted feature state (feature names, categoricals, classes).
        model: The `model` params section (`ModelConfig`).
        num_threads: LightGBM threads; 0 is LightGBM's default (one per core).
        callbacks: Extra LightGBM callbacks, after reprokit's own (not bound by pipeline
            YAML; `reprokit tune` passes its pruning callback). They observe each
            iteration's validation scores and may stop training by raising.

    Returns:
        The model as LightGBM's text format and a JSON-serialisable training history.
        The text is identical for identical inputs and for any `num_threads`.

    Raises:
        ConfigError: The objective disagrees with the feature state's task.
        DataError: A feature or target column is missing or train is empty.
    """
    import lightgbm as lgb

    fitted = parse_state(state)
    config = parse_section(ModelConfig, model, "model")
    check_objective(config, fitted)
    if num_threads < 0:
        raise ConfigError(f"engine.num_threads is {num_threads}; expected 0 (default) or more")
    require_rows(train, "train features")
    params = lightgbm_params(config, fitted, num_threads)
    train_x, train_y = model_inputs(train, fitted, "train features")
    train_set = lgb.Dataset(
        train_x,
        label=train_y,
        feature_name=fitted.feature_names,
        categorical_feature=fitted.categorical_features,
    )

    history: dict[str, Any] = {}
    valid_sets: list[Any] = []
    own_callbacks: list[Any] = []
    use_valid = not valid.empty
    if use_valid:
        valid_x, valid_y = model_inputs(valid, fitted, "valid features")
        valid_sets.append(lgb.Dataset(valid_x, label=valid_y, reference=train_set))
        own_callbacks.append(lgb.record_evaluation(history))
    early_stopping = use_valid and config.early_stopping_rounds > 0
    if early_stopping:
        own_callbacks.append(
            lgb.early_stopping(config.early_stopping_rounds, first_metric_only=True, verbose=False)
        )

    booster = lgb.train(
        params,
        train_set,
        num_boost_round=config.n_estimators,
        valid_sets=valid_sets,
        valid_names=[VALID_NAME] * len(valid_sets),
        callbacks=[*own_callbacks, *callbacks],
        # Keep the training booster so its parameters can be reset below; a booster
        # rebuilt from a string crashes LightGBM 4.7 in reset_parameter.
        keep_training_booster=True,
    )
    # The text format records the parameters, num_threads included; pin it so the model
    # file is the same whatever thread count trained it (training itself is deterministic).
    booster.reset_parameter({"num_threads": 0})
    trained = int(booster.current_iteration())
    best = int(booster.best_iteration) if early_stopping and booster.best_iteration > 0 else trained
    text = str(booster.model_to_string(num_iteration=best))
    metric = METRIC_BY_OBJECTIVE[config.objective]
    return text, {
        "best_iteration": best,
        "iterations_trained": trained,
        "early_stopping": early_stopping,
        "metric": metric,
        "valid_metric": recorded_curve(history.get(VALID_NAME, {}).get(metric, [])),
        "num_features": len(fitted.feature_names),
        "train_rows": len(train),
        "valid_rows": len(valid),
        "params": {**params, "num_boost_round": config.n_estimators},
    }


# Significant digits kept of each iteration's validation score in the training history.
# LightGBM sums the metric over rows in parallel, so its last bits depend on how the
# threads split the rows (seen to differ between a loaded and an idle run of the same
# model, about 1e-14 relative); the history is a DVC output compared bit for bit, so it
# records what is stable. At 8 digits a wobble that small crosses a rounding boundary with
# a chance of about 1e-6 per value (1e-4 for a 100-iteration curve), at 10 it was 1%.
CURVE_DIGITS = 8


def recorded_curve(values: Iterable[float]) -> list[float]:
    """The validation curve as the history records it (see CURVE_DIGITS)."""
    return [float(f"{value:.{CURVE_DIGITS}g}") for value in values]


def check_objective(config: ModelConfig, fitted: FeatureState) -> None:
    """The model's objective must be the task the feature state was fitted for."""
    if config.objective != fitted.task:
        raise ConfigError(
            f"model.objective is {config.objective!r} but the feature state was fitted for "
            f"task {fitted.task!r}; they must agree"
        )


def lightgbm_params(config: ModelConfig, state: FeatureState, num_threads: int) -> dict[str, Any]:
    """The LightGBM parameters for `config`: objective, tree shape and reproducibility."""
    params: dict[str, Any] = {
        "objective": config.objective,
        "metric": METRIC_BY_OBJECTIVE[config.objective],
        "num_leaves": config.num_leaves,
        "learning_rate": config.learning_rate,
        "max_depth": config.max_depth,
        "min_data_in_leaf": config.min_child_samples,
        "feature_fraction": config.feature_fraction,
        "bagging_fraction": config.bagging_fraction,
        "bagging_freq": config.bagging_freq,
        "lambda_l1": config.lambda_l1,
        "lambda_l2": config.lambda_l2,
        # deterministic needs one forced histogram layout to be bit-for-bit stable.
        "deterministic": config.deterministic,
        "force_row_wise": config.histogram == "row_wise",
        "force_col_wise": config.histogram == "col_wise",
        "num_threads": num_threads,
        "verbosity": -1,
    }
    # Every random stream gets its own seed derived from the one configured seed, so no
    # stream falls back to a LightGBM default that could change between versions.
    for name, offset in _SEED_OFFSETS.items():
        params[name] = (config.seed + offset) % _SEED_MODULUS
    if config.objective == "multiclass":
        params["num_class"] = len(state.classes or [])
    return params
