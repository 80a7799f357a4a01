"""XGBoost behind the model seam: the histogram tree method, to XGBoost's native JSON.

Reproducible: `tree_method=hist` with a fixed seed and a thread count fixed by the config
(`model.nthread`; XGBoost does not promise the same trees for every thread count), and the
model saved as JSON cut at the best iteration, so identical inputs give identical bytes.
The `xgboost-cpu` wheel: no CUDA libraries. Categorical features (codes) use XGBoost's
native categorical splits. No Dask training (the Dask engine says so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reprokit.config.models import XGBoostConfig
from reprokit.config.sections import parse_section
from reprokit.models.base import (
    Boosted,
    FeatureImportance,
    FeatureSpec,
    FloatArray,
    IterationObserver,
    IterationScore,
    MlflowFlavour,
    Split,
    Trained,
    check_objective,
    training_history,
)

VALID_NAME = "valid"
OBJECTIVES = {
    "binary": "binary:logistic",
    "multiclass": "multi:softprob",
    "regression": "reg:squarederror",
}
METRIC_BY_OBJECTIVE = {"binary": "logloss", "multiclass": "mlogloss", "regression": "rmse"}
# XGBoost's JSON model is one object whose first key is "learner".
_JSON_PREFIX = '{"learner":'


@dataclass
class XGBoostPredictor:
    booster: Any
    # The thread count last set on the booster: set again only when it changes, so a
    # service predicting from several threads does not rewrite the booster's parameters on
    # every request while other threads predict with it.
    threads: int | None = None

    @property
    def feature_names(self) -> list[str]:
        return list(self.booster.feature_names or [])

    def predict(self, matrix: FloatArray, num_threads: int | None = None) -> FloatArray:
        if num_threads is not None and num_threads != self.threads:
            self.booster.set_param({"nthread": num_threads})
            self.threads = num_threads
        return np.asarray(self.booster.predict(_matrix(matrix, self.booster)), dtype=np.float64)

    def importance(self) -> FeatureImportance:
        # XGBoost omits unused features; they have no gain and no split.
        gain = self.booster.get_score(importance_type="total_gain")
        splits = self.booster.get_score(importance_type="weight")
        names = self.feature_names
        return FeatureImportance(
            gain=np.asarray([gain.get(name, 0.0) for name in names], dtype=np.float64),
            split=np.asarray([splits.get(name, 0) for name in names], dtype=np.int64),
        )


def _matrix(features: FloatArray, booster: Any) -> Any:
    import xgboost as xgb

    return xgb.DMatrix(
        features,
        feature_names=booster.feature_names,
        feature_types=booster.feature_types,
        enable_categorical=True,
    )


class XGBoostModel:
    """The `xgboost` kind (conf/model/xgboost.yaml)."""

    kind = "xgboost"

    @property
    def requirement(self) -> str:
        import xgboost as xgb

        return f"xgboost-cpu=={xgb.__version__}"

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
        """XGBoost on the train split, early-stopping on the valid split. `num_threads`
        (engine.num_threads) is not used: `model.nthread` is, see the module docstring."""
        import xgboost as xgb

        config = parse_section(XGBoostConfig, params, "model")
        check_objective(config.objective, state)
        xgb_params = xgboost_params(config, state)
        types = ["c" if name in state.categorical_features else "q" for name in state.feature_names]

        def matrix(split: Split) -> Any:
            return xgb.DMatrix(
                split.features,
                label=split.labels,
                feature_names=state.feature_names,
                feature_types=types,
                enable_categorical=True,
            )

        evals = [] if valid is None else [(matrix(valid), VALID_NAME)]
        early_stopping = valid is not None and config.early_stopping_rounds > 0
        history: dict[str, Any] = {}
        booster = xgb.train(
            xgb_params,
            matrix(train),
            num_boost_round=config.n_estimators,
            evals=evals,
            evals_result=history,
            early_stopping_rounds=config.early_stopping_rounds if early_stopping else None,
            verbose_eval=False,
            callbacks=[_observer_callback(observer) for observer in observers],
        )
        trained = int(booster.num_boosted_rounds())
        best = int(booster.best_iteration) + 1 if early_stopping else trained
        # Sliced to the best iteration, the model carries no early-stopping attributes.
        text = bytes(booster[:best].save_raw("json")).decode("utf-8")
        metric = METRIC_BY_OBJECTIVE[config.objective]
        return Trained(
            artifact=text,
            history=training_history(
                Boosted(
                    best_iteration=best,
                    iterations_trained=trained,
                    early_stopping=early_stopping,
                    metric=metric,
                    valid_metric=history.get(VALID_NAME, {}).get(metric, []),
                    params={**xgb_params, "num_boost_round": config.n_estimators},
                ),
                state,
                train,
                valid,
            ),
        )

    def recognises(self, artifact: str) -> bool:
        return artifact.startswith(_JSON_PREFIX)

    def load(self, artifact: str) -> XGBoostPredictor:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(bytearray(artifact.encode("utf-8")))
        return XGBoostPredictor(booster)

    def mlflow_flavour(self, artifact: str) -> MlflowFlavour:
        return MlflowFlavour(
            module="mlflow.xgboost",
            model=self.load(artifact).booster,
            # Not "model": that name is the catalog's model artifact folder in the same run.
            # JSON, XGBoost's native text format (MLflow's default "xgb" is binary).
            options={
                "name": "xgboost_model",
                "model_format": "json",
                "pip_requirements": [self.requirement],
            },
        )


def xgboost_params(config: XGBoostConfig, state: FeatureSpec) -> dict[str, Any]:
    """The XGBoost parameters for `config`: objective, tree shape and reproducibility."""
    params: dict[str, Any] = {
        "objective": OBJECTIVES[config.objective],
        "eval_metric": METRIC_BY_OBJECTIVE[config.objective],
        "tree_method": "hist",
        "learning_rate": config.learning_rate,
        "max_depth": config.max_depth,
        "min_child_weight": config.min_child_weight,
        "subsample": config.subsample,
        "colsample_bytree": config.colsample_bytree,
        "reg_alpha": config.reg_alpha,
        "reg_lambda": config.reg_lambda,
        "max_bin": config.max_bin,
        "nthread": config.nthread,
        "seed": config.seed,
        "verbosity": 0,
    }
    if config.objective == "multiclass":
        params["num_class"] = len(state.classes or [])
    return params


def _observer_callback(observer: IterationObserver) -> Any:
    """An XGBoost callback reporting the valid split's first metric after each iteration."""
    import xgboost as xgb

    class Report(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            for metric, values in evals_log.get(VALID_NAME, {}).items():
                # Every metric reprokit sets for XGBoost (logloss, mlogloss, rmse) is a loss.
                observer(IterationScore(epoch, metric, float(values[-1]), False))
                break  # the first metric only, as for LightGBM
            return False  # never stop training here; an observer stops it by raising

    return Report()
