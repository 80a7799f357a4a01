"""Train the configured learner (`model.kind`), reproducibly, to its native model text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from reprokit.config.models import DEFAULT_MODEL_KIND
from reprokit.errors import ConfigError
from reprokit.models import IterationObserver, Split, get_model
from reprokit.models.progress import ProgressObserver, log_progress, log_trained
from reprokit.nodes._common import require_rows
from reprokit.nodes.features import FeatureState, model_inputs, parse_state


def train_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    state: Mapping[str, Any],
    model: Mapping[str, Any],
    num_threads: int,
    *,
    callbacks: Sequence[IterationObserver] = (),
) -> tuple[str, dict[str, Any]]:
    """Train `model.kind`'s learner on the transformed train split, early-stopping on the
    valid split.

    Args:
        train: Transformed train split (`transform_features` output).
        valid: Transformed valid split; empty disables early stopping.
        state: The fitted feature state (feature names, categoricals, classes).
        model: The `model` params section (`reprokit.config.models.ModelConfig`).
        num_threads: Training threads; 0 is the learner's default (one per core).
        callbacks: Observers of each iteration's first validation score (not bound by
            pipeline YAML; `reprokit tune` passes its pruning observer). They may stop
            training by raising. A progress line is logged every twentieth of
            `model.n_estimators` (`train.progress`: validation metric, time left).

    Returns:
        The model in its learner's native text format and a JSON-serialisable training
        history. The text is identical for identical inputs and for any `num_threads`.

    Raises:
        ConfigError: `model.kind` is not registered, or the objective disagrees with the
            feature state's task.
        DataError: A feature or target column is missing or train is empty.
    """
    fitted = parse_state(state)
    learner = get_model(str(model.get("kind", DEFAULT_MODEL_KIND)))
    if num_threads < 0:
        raise ConfigError(f"engine.num_threads is {num_threads}; expected 0 (default) or more")
    require_rows(train, "train features")
    progress = ProgressObserver(int(model.get("n_estimators", 1)), log_progress())
    trained = learner.fit(
        model_split(train, fitted, "train features"),
        None if valid.empty else model_split(valid, fitted, "valid features"),
        fitted,
        model,
        num_threads=num_threads,
        observers=[*callbacks, progress],
    )
    log_trained(trained.history)
    return trained.artifact, trained.history


def model_split(frame: pd.DataFrame, state: FeatureState, dataset: str) -> Split:
    """A transformed split as a learner takes it (`reprokit.models.Split`)."""
    features, labels = model_inputs(frame, state, dataset)
    return Split(features, labels)
