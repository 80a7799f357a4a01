"""The model registry: built-in kinds, a user's own learner, and the errors naming them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from reprokit.config.compose import validate
from reprokit.errors import ConfigError
from reprokit.models import (
    FeatureImportance,
    FeatureSpec,
    IterationObserver,
    MlflowFlavour,
    Model,
    ModelKindError,
    Split,
    Trained,
    get_model,
    load_model,
    register_model,
    registered_kinds,
)
from reprokit.models import registry as model_registry

PREFIX = "mean-model:"


class MeanPredictor:
    """Predicts the training mean: the smallest learner that is still a real one."""

    def __init__(self, mean: float, features: list[str]) -> None:
        self.mean, self._features = mean, features

    @property
    def feature_names(self) -> list[str]:
        return self._features

    def predict(self, matrix: Any, num_threads: int | None = None) -> Any:
        return np.full(len(matrix), self.mean)

    def importance(self) -> FeatureImportance:
        zeros = np.zeros(len(self._features))
        return FeatureImportance(gain=zeros, split=zeros.astype(np.int64))


class MeanModel:
    kind = "mean"
    requirement = "numpy"

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
        mean = float(np.mean(train.labels))
        return Trained(f"{PREFIX}{mean}:{','.join(state.feature_names)}", {"mean": mean})

    def recognises(self, artifact: str) -> bool:
        return artifact.startswith(PREFIX)

    def load(self, artifact: str) -> MeanPredictor:
        mean, features = artifact.removeprefix(PREFIX).split(":")
        return MeanPredictor(float(mean), features.split(","))

    def mlflow_flavour(self, artifact: str) -> MlflowFlavour:
        raise NotImplementedError


@pytest.fixture
def mean_kind() -> Iterator[MeanModel]:
    impl = MeanModel()
    register_model("mean", impl)
    yield impl
    model_registry._MODELS.pop("mean")


def test_builtin_kinds_are_registered_and_satisfy_the_protocol() -> None:
    assert {"lightgbm", "xgboost"} <= set(registered_kinds())
    for kind in ("lightgbm", "xgboost"):
        assert isinstance(get_model(kind), Model)


def test_unknown_kind_names_the_key_and_the_registered_kinds() -> None:
    with pytest.raises(ModelKindError) as raised:
        get_model("xgbost")
    message = str(raised.value)
    assert "model.kind is 'xgbost'" in message
    assert "'lightgbm'" in message and "'xgboost'" in message
    assert isinstance(raised.value, ConfigError)  # the CLI exits cleanly, code 2


def test_an_artifact_of_no_registered_learner_is_refused() -> None:
    with pytest.raises(ModelKindError, match="native format of no registered learner"):
        load_model("not a model")


def test_a_registered_learner_is_found_by_kind_and_by_artifact(mean_kind: MeanModel) -> None:
    assert get_model("mean") is mean_kind
    trained = mean_kind.fit(Split(np.zeros((2, 1)), np.array([1.0, 3.0])), None, _Spec(), {})
    predictor = load_model(trained.artifact, ["x"])
    assert predictor.predict(np.zeros((3, 1))).tolist() == [2.0, 2.0, 2.0]


def test_a_registered_kind_keeps_its_own_config_keys(mean_kind: MeanModel) -> None:
    """Config validation accepts a kind it does not know, with that learner's own keys."""
    from tests.support import PROJECT_ROOT

    from reprokit.config.compose import read_params

    params = read_params(PROJECT_ROOT)
    params["model"] = {"kind": "mean", "objective": "binary", "shrinkage": 0.5}
    config = validate(params)
    assert config.model.kind == "mean"


def test_builtin_kind_rejects_the_other_learners_keys() -> None:
    from tests.support import PROJECT_ROOT

    from reprokit.config.compose import read_params

    params = read_params(PROJECT_ROOT)
    params["model"] = {**params["model"], "kind": "xgboost"}
    with pytest.raises(ConfigError) as raised:
        validate(params)
    assert "unknown key `model.num_leaves`" in str(raised.value)
    assert "nthread" in str(raised.value)  # the allowed keys are XGBoost's


class _Spec:
    task = "regression"
    feature_names = ["x"]
    categorical_features: list[str] = []
    classes = None
