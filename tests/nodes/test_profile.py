"""build_reference_profile: the monitoring reference for every task, and the batch
analysis against it (the split's own rows do not drift; a shifted column does)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from node_data import ID, SPLIT, TARGET, make_frame, model_params, schema_for

from reprokit.config.models import MonitoringConfig
from reprokit.errors import ConfigError, DataError
from reprokit.monitoring.analysis import analyse, check_structure, score
from reprokit.nodes.profile import (
    CategoricalProfile,
    NumericProfile,
    build_reference_profile,
    parse_profile,
)
from reprokit.nodes.split import split_frame
from reprokit.nodes.train import train_model

Prepared = Callable[[str], tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]]
METRICS = {"roc_auc": 0.9, "log_loss": 0.3, "rmse": 0.6, "accuracy": 0.8, "n_test": 120}


def built(
    prepared: Prepared, task: str
) -> tuple[dict[str, Any], str, dict[str, Any], pd.DataFrame]:
    state, train_features, valid_features, test_features = prepared(task)
    model, _ = train_model(train_features, valid_features, state, model_params(task), 1)
    train, _, test = split_frame(make_frame(task), SPLIT, TARGET, task, ID)
    profile = build_reference_profile(
        train, test_features, model, state, METRICS, schema_for(task), bins=10, cdf_points=50
    )
    return profile, model, state, test


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_profile_describes_columns_predictions_and_model(prepared: Prepared, task: str) -> None:
    profile, model, state, _ = built(prepared, task)
    parsed = parse_profile(json.loads(json.dumps(profile)))  # JSON round trip, no pickle
    assert parsed.model_sha256 == hashlib.sha256(model.encode()).hexdigest()
    assert list(parsed.columns) == [*state["numeric"], *state["categorical"]]
    assert "event_time" not in parsed.columns  # the timestamp would always "drift"
    x2 = parsed.columns["x2"]
    assert isinstance(x2, NumericProfile) and 0.0 < x2.null_rate < 0.25
    assert len(x2.cuts) == 9 and sum(x2.fractions) == pytest.approx(1.0)
    assert len(x2.cdf.values) <= 50
    color = parsed.columns["color"]
    assert isinstance(color, CategoricalProfile)
    assert {"blue", "green", "red"} <= set(color.categories)
    assert sum(color.fractions) == pytest.approx(1.0)
    expected = CategoricalProfile if task == "multiclass" else NumericProfile
    assert isinstance(parsed.prediction, expected)
    assert parsed.metrics["n_test"] == 120
    assert parsed.data_schema.columns[TARGET]
    assert profile == built(prepared, task)[0]  # deterministic


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_split_rows_do_not_drift_but_a_shifted_column_does(prepared: Prepared, task: str) -> None:
    document, model, state, test = built(prepared, task)
    profile = parse_profile(document)
    config = MonitoringConfig()
    check_structure(test, profile, TARGET)
    raw = score(test, model, state)
    calm = analyse(test, profile, config, raw, labels=TARGET)
    assert calm.drifted == []
    assert calm.current_metrics  # computed from the labels
    shifted = test.assign(x1=test["x1"] + 3.0)
    moved = analyse(shifted, profile, config, score(shifted, model, state))
    assert "x1" in moved.drifted
    assert "x2" not in moved.drifted


def test_bad_params_and_inputs_are_clear_errors(prepared: Prepared) -> None:
    state, train_features, valid_features, test_features = prepared("binary")
    model, _ = train_model(train_features, valid_features, state, model_params("binary"), 1)
    train, _, _ = split_frame(make_frame("binary"), SPLIT, TARGET, "binary", ID)
    schema = schema_for("binary")
    with pytest.raises(ConfigError, match=r"monitoring\.bins"):
        build_reference_profile(train, test_features, model, state, {}, schema, 1, 50)
    with pytest.raises(DataError, match="x1"):
        build_reference_profile(
            train.drop(columns=["x1"]), test_features, model, state, {}, schema, 10, 50
        )
    with pytest.raises(DataError, match="0 rows"):
        build_reference_profile(train.iloc[:0], test_features, model, state, {}, schema, 10, 50)
    assert np.isfinite(
        build_reference_profile(train, test_features, model, state, {}, schema, 10, 50)[
            "prediction"
        ]["mean"]
    )
