"""The model seam: what every learner implementation provides.

A learner trains on the transformed splits and returns its model as a native text artifact
(LightGBM's model text, XGBoost's JSON; never pickle, DESIGN principle 9). The artifact is
self-describing: each implementation recognises its own format, so whoever holds only the
file (evaluate, the monitoring profile, serving, `reprokit monitor`) loads it without being
told the learner. Learner libraries are imported only inside the implementations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from reprokit.errors import ConfigError, DataError

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


class FeatureSpec(Protocol):
    """What a learner needs of the fitted feature state (`reprokit.nodes.features.
    FeatureState` is one; models stay below the nodes, so they take it structurally)."""

    @property
    def task(self) -> str: ...

    @property
    def feature_names(self) -> list[str]: ...

    @property
    def categorical_features(self) -> list[str]: ...

    @property
    def classes(self) -> list[Any] | None: ...


@dataclass(frozen=True)
class Split:
    """A transformed split as the learner takes it: the feature matrix (the feature
    state's features, in order, as float64; categoricals as codes) and encoded labels."""

    features: FloatArray
    labels: np.ndarray[Any, Any]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class IterationScore:
    """One boosting iteration's first validation metric, as a learner reports it."""

    iteration: int  # 0-based
    metric: str
    value: float
    higher_is_better: bool


# Called after every iteration that has a validation score (`reprokit tune`'s pruning); it
# may stop training by raising.
IterationObserver = Callable[[IterationScore], None]


@dataclass(frozen=True)
class Trained:
    """A fitted model: its native artifact and the JSON-serialisable training history."""

    artifact: str
    history: dict[str, Any]


@dataclass(frozen=True)
class FeatureImportance:
    """Per feature (in the model's feature order): total split gain and number of splits."""

    gain: FloatArray
    split: np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class MlflowFlavour:
    """How MLflow logs a model: `module.log_model(model, **options)`, with `module` one of
    MLflow's flavours (e.g. `mlflow.lightgbm`). Described, not called, here: the models sit
    below tracking and import no MLflow (an import-linter contract)."""

    module: str
    model: Any
    options: dict[str, Any]


@runtime_checkable
class Predictor(Protocol):
    """A loaded model."""

    @property
    def feature_names(self) -> list[str]: ...

    def predict(self, matrix: FloatArray, num_threads: int | None = None) -> FloatArray:
        """Probabilities (binary: the positive class's, 1-d; multiclass: one column per
        class) or values (regression), one row per matrix row. `num_threads` None is the
        learner's default."""
        ...

    def importance(self) -> FeatureImportance: ...


@runtime_checkable
class Model(Protocol):
    """A learner, registered under `kind` (the `model.kind` config key)."""

    kind: str

    @property
    def requirement(self) -> str:
        """The learner library's pip requirement (`name==version`), for the MLflow flavour."""
        ...

    def fit(
        self,
        train: Split,
        valid: Split | None,
        state: FeatureSpec,
        params: Mapping[str, Any],
        *,
        num_threads: int = 0,
        observers: Sequence[IterationObserver] = (),
    ) -> Trained:
        """Train on the transformed splits (`valid` None: no early stopping), with the
        `model` params section. The artifact must be byte-identical for identical inputs
        and for any `num_threads` (0: the learner's default)."""
        ...

    def recognises(self, artifact: str) -> bool:
        """Whether `artifact` is this learner's native format (cheap: a prefix check)."""
        ...

    def load(self, artifact: str) -> Predictor: ...

    def mlflow_flavour(self, artifact: str) -> MlflowFlavour:
        """MLflow's flavour for the learner, with the loaded model (native format)."""
        ...


@dataclass(frozen=True)
class Boosted:
    """What a boosting run did, as the training history records it."""

    best_iteration: int  # iterations kept in the model
    iterations_trained: int
    early_stopping: bool
    metric: str
    valid_metric: Sequence[float]  # the valid split's metric per iteration, as computed
    params: dict[str, Any]  # the learner's parameters, as passed to it


def training_history(
    run: Boosted, state: FeatureSpec, train: Split, valid: Split | None
) -> dict[str, Any]:
    """The JSON-serialisable training history (a DVC output: keys in a fixed order)."""
    return {
        "best_iteration": run.best_iteration,
        "iterations_trained": run.iterations_trained,
        "early_stopping": run.early_stopping,
        "metric": run.metric,
        "valid_metric": recorded_curve(run.valid_metric),
        "num_features": len(state.feature_names),
        "train_rows": len(train),
        "valid_rows": 0 if valid is None else len(valid),
        "params": run.params,
    }


def check_objective(objective: str, fitted: FeatureSpec) -> None:
    """The model's objective must be the task the feature state was fitted for."""
    if objective != fitted.task:
        raise ConfigError(
            f"model.objective is {objective!r} but the feature state was fitted for "
            f"task {fitted.task!r}; they must agree"
        )


def check_features(predictor: Predictor, expected: Sequence[str]) -> None:
    """The model must take exactly the feature state's features, in its order."""
    model_features = predictor.feature_names
    if model_features != list(expected):
        raise DataError(
            f"the model has {len(model_features)} feature(s) but the feature state names "
            f"{len(expected)} (or another order); expected the same list: "
            f"model {model_features} vs state {list(expected)}"
        )


# Significant digits kept of each iteration's validation score in the training history.
# LightGBM sums the metric over rows in parallel, so its last bits depend on how the
# threads split the rows (seen to differ between a loaded and an idle run of the same
# model, about 1e-14 relative); the history is a DVC output compared bit for bit, so it
# records what is stable. At 8 digits a wobble that small crosses a rounding boundary with
# a chance of about 1e-6 per value (1e-4 for a 100-iteration curve), at 10 it was 1%.
CURVE_DIGITS = 8


def recorded_curve(values: Sequence[float] | FloatArray) -> list[float]:
    """The validation curve as the history records it (see CURVE_DIGITS)."""
    return [float(f"{value:.{CURVE_DIGITS}g}") for value in values]
