"""Learners behind one seam (DESIGN "The house", floor 4): the `Model` protocol and a
registry keyed by `model.kind`. Only the implementations here import a learner library
(an import-linter contract checks it), and only inside the functions that need it.
"""

from __future__ import annotations

from reprokit.models.base import (
    FeatureImportance,
    FeatureSpec,
    IterationObserver,
    IterationScore,
    MlflowFlavour,
    Model,
    Predictor,
    Split,
    Trained,
)
from reprokit.models.lightgbm import LightGBMModel
from reprokit.models.registry import (
    DEFAULT_KIND,
    ModelKindError,
    get_model,
    import_learners,
    load_model,
    model_for_artifact,
    register_model,
    registered_kinds,
)
from reprokit.models.xgboost import XGBoostModel

register_model("lightgbm", LightGBMModel())
register_model("xgboost", XGBoostModel())

__all__ = [
    "DEFAULT_KIND",
    "FeatureImportance",
    "FeatureSpec",
    "IterationObserver",
    "IterationScore",
    "MlflowFlavour",
    "Model",
    "ModelKindError",
    "Predictor",
    "Split",
    "Trained",
    "get_model",
    "import_learners",
    "load_model",
    "model_for_artifact",
    "register_model",
    "registered_kinds",
]
