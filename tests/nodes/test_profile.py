"""build_reference_profile and sample_reference: the monitoring references for every task,
and `reprokit monitor`'s Evidently report against them (the split's own rows do not drift;
a shifted column does)."""

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
from reprokit.monitoring.analysis import check_structure, score
from reprokit.monitoring.evidently_report import Verdict, current_table, run_report, verdict
from reprokit.nodes.profile import (
    LABEL,
    PREDICTION,
    CategoricalProfile,
    NumericProfile,
    build_reference_profile,
    parse_profile,
    sample_reference,
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
def test_reference_sample_is_bounded_deterministic_and_scored(
    prepared: Prepared, task: str
) -> None:
    document, model, state, _ = built(prepared, task)
    test_features = prepared(task)[3]
    train, _, _ = split_frame(make_frame(task), SPLIT, TARGET, task, ID)

    def sample(rows: int, seed: int) -> pd.DataFrame:
        return sample_reference(train, test_features, model, state, rows, seed)

    drawn = sample(50, 3)
    assert len(drawn) == 50
    assert list(drawn.columns) == [*document["columns"], PREDICTION, LABEL]
    pd.testing.assert_frame_equal(drawn, sample(50, 3))
    assert not drawn.equals(sample(50, 4))
    assert len(sample(10**6, 3)) == min(len(train), len(test_features))
    labels = set(drawn[LABEL])
    assert labels <= ({0, 1} if task == "binary" else {"0", "1", "2"}) or task == "regression"


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_split_rows_do_not_drift_but_a_shifted_column_does(prepared: Prepared, task: str) -> None:
    """The whole Evidently report against the reference sample, with labels."""
    document, model, state, test = built(prepared, task)
    # The schema's inclusive bounds become tests too (make_frame's count is 0..9).
    document["data_schema"]["columns"]["count"].update(ge=0, le=9)
    profile = parse_profile(document)
    train, _, _ = split_frame(make_frame(task), SPLIT, TARGET, task, ID)
    sample = sample_reference(train, prepared(task)[3], model, state, rows=400, seed=0)
    # Tests for the ~100 rows of this test split (PSI's noise reaches 0.2 at that size; the
    # defaults are measured on the demo data: bench/bench_monitor.py --accuracy).
    config = MonitoringConfig.model_validate(
        {"drift": {"numeric": {"method": "ks", "threshold": 0.001},
                   "categorical": {"method": "chisquare", "threshold": 0.001}}}
    )  # fmt: skip
    check_structure(test, profile, TARGET)

    def checked(frame: pd.DataFrame) -> Verdict:
        table = current_table(frame, profile, score(frame, model, state), TARGET)
        snapshot = run_report(table, sample, profile, config)
        return verdict(snapshot.dict())

    # The one "violet" row (make_frame's rare category) is a category the sample may lack:
    # chi-square rightly flags any category the reference never saw.
    seen = test[test["color"] != "violet"].reset_index(drop=True)
    calm = checked(seen)
    assert calm.drifted == []
    assert {c.column for c in calm.columns} == {*profile.columns, PREDICTION}
    moved = checked(seen.assign(x1=seen["x1"] + 3.0))
    assert "x1" in moved.drifted
    assert "x2" not in moved.drifted
    assert moved.status == "alarm"
    assert not any("out of range" in failed for failed in calm.failed)
    broken = checked(seen.assign(count=seen["count"].where(seen.index > 0, 50)))
    assert [f for f in broken.failed if "'count' values out of range" in f]


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


def test_sorted_distinct_is_numpy_unique_of_a_sorted_array() -> None:
    from reprokit.nodes.profile import sorted_distinct

    values = np.sort(np.random.default_rng(0).integers(0, 30, 500).astype(np.float64))
    for case in (values, values[:1], values[:0], np.array([2.0, 2.0, 2.0])):
        np.testing.assert_array_equal(sorted_distinct(case), np.unique(case))
