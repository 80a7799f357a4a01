"""The Dask node implementations against the pandas nodes, on a real 2-worker LocalCluster.

The same data goes through both; the Dask result must equal the pandas one where the
engine promises equality (validation messages, feature state, transform, time and group
splits, the validation curve behind early stopping) and be close where it promises a
tolerance (distributed training).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from tests.support import PROJECT_ROOT

from reprokit.config.compose import workspace_from_conf
from reprokit.config.models import EngineConfig
from reprokit.datagen.credit import generate_credit
from reprokit.engines.dask import nodes as dask_nodes
from reprokit.engines.dask import training as dask_training
from reprokit.engines.dask.cluster import dask_client
from reprokit.engines.dask.validation import validate_frame
from reprokit.errors import DataError
from reprokit.models.base import CURVE_DIGITS
from reprokit.nodes import features as pandas_features
from reprokit.nodes import split as pandas_split
from reprokit.nodes import train as pandas_train
from reprokit.schemas.validator import SchemaValidator

pytestmark = pytest.mark.slow

ROWS = 9000
PARTITIONS = 3
AUC_TOLERANCE = 0.01


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with dask_client(EngineConfig(kind="dask", n_workers=2, memory_limit="2GiB")) as client:
        yield client


@pytest.fixture(scope="module")
def params() -> dict[str, Any]:
    return workspace_from_conf(PROJECT_ROOT, [f"data.source.rows={ROWS}"]).params


@pytest.fixture(scope="module")
def primary(params: dict[str, Any]) -> pd.DataFrame:
    raw = generate_credit(ROWS, 7).reset_index(drop=True)
    validated = SchemaValidator("raw", params["data"]["schema"]).validate(raw)
    return validated.reset_index(drop=True)


def dask_frame(frame: pd.DataFrame, partitions: int = PARTITIONS) -> Any:
    return dd.from_pandas(frame, npartitions=partitions, sort=False)


def split_args(params: dict[str, Any], **split: Any) -> dict[str, Any]:
    data = params["data"]
    return {
        "split": {**params["split"], **split},
        "target": data["target"],
        "task": data["task"],
        "id_column": data["id_column"],
    }


def fit_args(params: dict[str, Any], **features: Any) -> dict[str, Any]:
    data = params["data"]
    return {
        "features": {**params["features"], **features},
        "schema": data["schema"],
        "target": data["target"],
        "task": data["task"],
        "id_column": data["id_column"],
        "timestamp_column": data["timestamp_column"],
        "group_column": data["group_column"],
    }


def ids(frame: Any) -> list[int]:
    computed = frame.compute() if hasattr(frame, "compute") else frame
    return sorted(computed["customer_id"].tolist())


# --- validation ---------------------------------------------------------------------------


def problem_lines(message: str) -> list[str]:
    return [line.strip() for line in message.splitlines() if line.strip().startswith("- ")]


def test_bad_rows_are_summed_over_partitions_as_the_pandas_validator_counts(
    client: Any, params: dict[str, Any], primary: pd.DataFrame
) -> None:
    bad = primary.copy()
    # Bad ages in the first and the last partition; a customer id repeated across two.
    bad.loc[[3, 10, 20], "age"] = 5.0
    bad.loc[[ROWS - 5, ROWS - 2], "age"] = 7.0
    bad.loc[ROWS - 1, "customer_id"] = bad.loc[0, "customer_id"]
    schema = params["data"]["schema"]
    with pytest.raises(DataError) as pandas_error:
        SchemaValidator("raw", schema).validate(bad)
    with pytest.raises(DataError) as dask_error:
        validate_frame(dask_frame(bad), "raw", schema)
    assert f"({ROWS} rows, {PARTITIONS} partitions)" in str(dask_error.value)
    assert "column 'age': 5 bad rows" in str(dask_error.value)
    assert "column 'customer_id': 2 bad rows" in str(dask_error.value)
    dask_lines, pandas_lines = (problem_lines(str(e.value)) for e in (dask_error, pandas_error))
    assert dask_lines[0] == pandas_lines[0]  # the age line, examples included
    # Pandera shows the repeated id as a float; the count and rule are the same.
    assert [line.split("; examples")[0] for line in dask_lines] == [
        line.split("; examples")[0] for line in pandas_lines
    ]


def test_valid_data_passes_with_its_exact_shape_and_dtypes(
    client: Any, params: dict[str, Any], primary: pd.DataFrame
) -> None:
    validated = validate_frame(
        dask_frame(primary), "raw", params["data"]["schema"], target="default", task="binary"
    )
    assert validated.shape == primary.shape
    assert validated.frame.compute().reset_index(drop=True).equals(primary)


# --- split --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "split",
    [{"kind": "time", "column": "application_date"}, {"kind": "group", "column": "branch_id"}],
)
def test_time_and_group_splits_equal_the_pandas_engine(
    client: Any, params: dict[str, Any], primary: pd.DataFrame, split: dict[str, Any]
) -> None:
    args = split_args(params, **split)
    expected = pandas_split.split_frame(primary, **args)
    actual = dask_nodes.split_frame(dask_frame(primary), **args)
    for pandas_part, dask_part in zip(expected, actual, strict=True):
        assert ids(dask_part) == ids(pandas_part)


def test_a_one_partition_stratified_split_equals_the_pandas_engine(
    client: Any, params: dict[str, Any], primary: pd.DataFrame
) -> None:
    args = split_args(params)
    expected = pandas_split.split_frame(primary, **args)
    actual = dask_nodes.split_frame(dask_frame(primary, 1), **args)
    for pandas_part, dask_part in zip(expected, actual, strict=True):
        assert ids(dask_part) == ids(pandas_part)


def test_a_partitioned_stratified_split_keeps_sizes_and_class_shares(
    client: Any, params: dict[str, Any], primary: pd.DataFrame
) -> None:
    train, valid, test = (
        part.compute() for part in dask_nodes.split_frame(dask_frame(primary), **split_args(params))
    )
    assert sorted(ids(train) + ids(valid) + ids(test)) == ids(primary)
    assert abs(len(test) - 0.2 * ROWS) <= PARTITIONS and abs(len(valid) - 0.1 * ROWS) <= PARTITIONS
    share = primary["default"].mean()
    for part in (train, valid, test):
        assert abs(part["default"].mean() - share) < 0.01


# --- features -----------------------------------------------------------------------------


@pytest.mark.parametrize("min_frequency", [0.0, 0.001, 0.2])
def test_fitted_state_equals_the_pandas_engine_on_the_same_train_split(
    client: Any, params: dict[str, Any], primary: pd.DataFrame, min_frequency: float
) -> None:
    args = fit_args(params, min_category_frequency=min_frequency)
    expected = pandas_features.fit_feature_state(primary, **args)
    actual = dask_nodes.fit_feature_state(dask_frame(primary), **args)
    assert actual == expected
    if min_frequency == 0.2:  # the rule folds rare categories, identically
        assert any(expected["folded_categories"].values())


def test_transform_per_partition_equals_the_pandas_transform(
    client: Any, params: dict[str, Any], primary: pd.DataFrame
) -> None:
    state = pandas_features.fit_feature_state(primary, **fit_args(params))
    expected = pandas_features.transform_features(primary, state)
    actual = dask_nodes.transform_features(dask_frame(primary), state).compute()
    pd.testing.assert_frame_equal(actual.reset_index(drop=True), expected)


# --- training -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(
    params: dict[str, Any], primary: pd.DataFrame
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    train, valid, test = pandas_split.split_frame(primary, **split_args(params))
    state = pandas_features.fit_feature_state(train, **fit_args(params))
    return state, *(
        pandas_features.transform_features(part, state) for part in (train, valid, test)
    )


def test_the_distributed_validation_curve_is_lightgbms_own(
    client: Any, params: dict[str, Any], prepared: Any
) -> None:
    import lightgbm as lgb

    state, train, valid, _ = prepared
    fitted = pandas_features.parse_state(state)
    model = {**params["model"], "n_estimators": 60, "early_stopping_rounds": 0}
    text, history = pandas_train.train_model(train, valid, state, model, 1)
    losses = dask_training.validation_curve(text, dask_frame(valid), fitted, 60)
    # The history records CURVE_DIGITS significant digits: half a unit in the last one is
    # the most they may differ.
    rtol = 0.5 * 10.0 ** (1 - CURVE_DIGITS)
    np.testing.assert_allclose(losses, history["valid_metric"], rtol=rtol)
    stop, best = dask_training.early_stopping_point(losses, 10)
    assert best == int(np.argmin(losses[: stop + 1]))
    assert lgb.Booster(model_str=text).num_trees() == 60


def test_distributed_training_is_within_tolerance_of_the_pandas_engine(
    client: Any, params: dict[str, Any], prepared: Any
) -> None:
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    state, train, valid, test = prepared
    expected, _ = pandas_train.train_model(train, valid, state, params["model"], 1)
    actual, history = dask_training.train_model(
        dask_frame(train), dask_frame(valid), state, params["model"], 0
    )
    assert "[tree_learner: data]" in actual
    assert "[machines: ]" in actual  # no run-specific ports or addresses in the file
    assert history["early_stopping"] and history["best_iteration"] < history["iterations_trained"]
    fitted = pandas_features.parse_state(state)
    features, labels = pandas_features.model_inputs(test, fitted, "test")
    scores = {
        name: roc_auc_score(labels, lgb.Booster(model_str=text).predict(features))
        for name, text in (("pandas", expected), ("dask", actual))
    }
    assert abs(scores["dask"] - scores["pandas"]) <= AUC_TOLERANCE, scores


def test_scoring_per_partition_gives_the_pandas_metrics(
    client: Any, params: dict[str, Any], prepared: Any
) -> None:
    from reprokit.nodes.evaluate import evaluate_model

    state, train, valid, test = prepared
    text, _ = pandas_train.train_model(train, valid, state, params["model"], 1)
    expected, expected_tables, _ = evaluate_model(text, test, state, params["evaluation"])
    actual, tables, figures = dask_training.evaluate_model(
        text, dask_frame(test), state, params["evaluation"]
    )
    assert actual == expected
    assert sorted(tables) == sorted(expected_tables) and sorted(figures) == sorted(tables)
    pd.testing.assert_frame_equal(tables["roc"], expected_tables["roc"])
