"""fit_feature_state / transform_features: selection, JSON state, categories, derived, target."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from node_data import FEATURES, GROUP, ID, TARGET, TIMESTAMP, fit, make_frame, schema_for

from reprokit.errors import DataError, LeakageError
from reprokit.nodes.features import (
    OTHER,
    _column_array,
    class_codes,
    fit_feature_state,
    parse_state,
    transform_features,
    transform_matrix,
)

STATE_KEYS = {
    "version",
    "task",
    "target",
    "id_column",
    "input_columns",
    "numeric",
    "categorical",
    "folded_categories",
    "unseen_category",
    "derived",
    "classes",
    "feature_names",
    "categorical_features",
}
DERIVED_NAMES = ["debt_ratio", "log_income", "event_month", "event_dayofweek"]


def test_auto_selection_follows_schema_dtypes_and_skips_roles() -> None:
    state = fit(make_frame("binary"), "binary")
    assert set(state) == STATE_KEYS
    assert state["numeric"] == ["x1", "x2", "count", "income", "debt"]
    assert list(state["categorical"]) == ["color", "flag"]
    assert state["feature_names"] == [*state["numeric"], "color", "flag", *DERIVED_NAMES]
    assert state["categorical_features"] == ["color", "flag"]
    for reserved in (TARGET, ID, TIMESTAMP, GROUP):
        assert reserved not in state["feature_names"]


def test_state_survives_a_json_round_trip() -> None:
    frame = make_frame("binary")
    state = fit(frame, "binary")
    loaded = json.loads(json.dumps(state))
    assert loaded == state
    pd.testing.assert_frame_equal(
        transform_features(frame, loaded), transform_features(frame, state)
    )


def test_exclude_removes_columns() -> None:
    state = fit(make_frame("binary"), "binary", exclude=["x2", "flag"])
    assert "x2" not in state["feature_names"] and "flag" not in state["categorical"]


def test_transform_layout_dtypes_and_codes() -> None:
    frame = make_frame("binary")
    state = fit(frame, "binary")
    out = transform_features(frame, state)
    assert list(out.columns) == [ID, *state["feature_names"], TARGET]
    assert all(out[name].dtype == np.float64 for name in state["feature_names"])
    categories = state["categorical"]["color"]
    assert categories == ["blue", "green", "red", "violet", OTHER]
    expected = frame["color"].map({name: float(code) for code, name in enumerate(categories)})
    np.testing.assert_array_equal(out["color"].to_numpy(), expected.to_numpy(dtype=float))
    assert out["color"].isna().sum() == frame["color"].isna().sum() > 0
    assert out["flag"].tolist() == frame["flag"].astype(float).tolist()  # "False" < "True"
    assert out[TARGET].tolist() == frame[TARGET].tolist()


def test_transform_without_target_gives_same_features() -> None:
    frame = make_frame("binary")
    state = fit(frame, "binary")
    with_target = transform_features(frame, state)
    request = frame.drop(columns=[TARGET, ID])
    served = transform_features(request, state)
    assert list(served.columns) == state["feature_names"]
    pd.testing.assert_frame_equal(served, with_target[state["feature_names"]])


def test_transform_of_an_empty_frame_keeps_columns_and_dtypes() -> None:
    frame = make_frame("binary")
    state = fit(frame, "binary")
    full = transform_features(frame, state)
    empty = transform_features(frame.iloc[0:0], state)
    assert empty.empty
    pd.testing.assert_series_equal(empty.dtypes, full.dtypes)


def test_transform_does_not_modify_its_input() -> None:
    frame = make_frame("binary")
    state = fit(frame, "binary")
    before = frame.copy()
    transform_features(frame, state)
    pd.testing.assert_frame_equal(frame, before)


def test_unseen_category_maps_to_other() -> None:
    state = fit(make_frame("binary"), "binary")
    request = make_frame("binary", rows=3)
    request["color"] = pd.Series(["purple", "red", None], dtype="str", index=request.index)
    codes = transform_features(request, state)["color"].tolist()
    categories = state["categorical"]["color"]
    assert codes[:2] == [categories.index(OTHER), categories.index("red")]
    assert math.isnan(codes[2])


def test_unseen_category_error_names_column_values_and_count() -> None:
    state = fit(make_frame("binary"), "binary", unseen_category="error")
    request = make_frame("binary", rows=4)
    request["color"] = pd.Series(
        ["purple", "teal", "purple", "red"], dtype="str", index=request.index
    )
    with pytest.raises(DataError) as raised:
        transform_features(request, state)
    message = str(raised.value)
    assert "'color'" in message and "3 row(s)" in message and "2 category value(s)" in message
    assert "'purple'" in message and "'teal'" in message


def test_rare_categories_fold_into_other_and_are_not_unseen() -> None:
    frame = make_frame("binary")
    state = fit(frame, "binary", min_category_frequency=0.01, unseen_category="error")
    assert state["categorical"]["color"] == ["blue", "green", "red", OTHER]
    assert state["folded_categories"]["color"] == ["violet"]
    request = frame.head(1)  # row 0 is the only "violet"
    assert request["color"].iloc[0] == "violet"
    assert transform_features(request, state)["color"].iloc[0] == 3.0


def test_derived_feature_values() -> None:
    frame = pd.DataFrame(
        {
            "debt": [10.0, 10.0, 10.0, np.nan],
            "income": [4.0, 0.0, np.nan, -1.0],
            TIMESTAMP: pd.to_datetime(["2021-03-01", "2021-03-06", "2021-12-31", "2022-01-01"]),
        }
    )
    schema = {"columns": {name: {"dtype": "float64"} for name in ("debt", "income", TARGET)}}
    schema["columns"][TIMESTAMP] = {"dtype": "datetime64[ns]"}
    state = fit_feature_state(
        frame.assign(**{TARGET: [1.0, 2.0, 3.0, 4.0]}),
        features={**FEATURES, "numeric": []},
        schema=schema,
        target=TARGET,
        task="regression",
        id_column=None,
        timestamp_column=TIMESTAMP,
        group_column=None,
    )
    out = transform_features(frame, state)
    np.testing.assert_array_equal(out["debt_ratio"], [2.5, np.nan, np.nan, np.nan])
    np.testing.assert_allclose(out["log_income"], [math.log1p(4.0), 0.0, np.nan, np.nan])
    assert out["event_month"].tolist() == [3.0, 3.0, 12.0, 1.0]
    assert out["event_dayofweek"].tolist() == [0.0, 5.0, 4.0, 5.0]  # Monday is 0


def test_date_parts_accept_iso_strings_from_requests() -> None:
    frame = make_frame("binary", rows=5)
    state = fit(frame, "binary")
    request = frame.assign(**{TIMESTAMP: frame[TIMESTAMP].dt.strftime("%Y-%m-%dT%H:%M:%S")})
    pd.testing.assert_frame_equal(
        transform_features(request, state), transform_features(frame, state)
    )


@pytest.mark.parametrize(
    ("override", "leaked"),
    [
        ({"numeric": ["x1", TARGET]}, TARGET),
        ({"numeric": ["x1", ID]}, ID),
        ({"categorical": [GROUP]}, GROUP),
        ({"derived": [{"name": "leak", "kind": "log", "column": TARGET}]}, TARGET),
    ],
)
def test_reserved_columns_as_features_are_leakage(override: dict[str, object], leaked: str) -> None:
    with pytest.raises(LeakageError, match=leaked):
        fit(make_frame("binary"), "binary", **override)


def test_explicit_columns_must_be_in_schema() -> None:
    with pytest.raises(
        DataError, match=r"features\.numeric names 1 column\(s\) not in data\.schema: \['x9'\]"
    ):
        fit(make_frame("binary"), "binary", numeric=["x1", "x9"])


def test_transform_names_missing_input_column() -> None:
    frame = make_frame("binary")
    state = fit(frame, "binary")
    with pytest.raises(DataError, match=r"missing: \['income'\]"):
        transform_features(frame.drop(columns=["income"]), state)


def test_non_numeric_value_in_numeric_column_is_named() -> None:
    frame = make_frame("binary", rows=4)
    state = fit(frame, "binary")
    request = frame.astype({"x1": object})
    request.loc[1, "x1"] = "abc"
    with pytest.raises(DataError, match=r"column 'x1' has 1 non-numeric value\(s\) \['abc'\]"):
        transform_features(request, state)


def test_binary_target_with_two_labels_is_mapped() -> None:
    frame = make_frame("binary")
    labels = frame.assign(**{TARGET: frame[TARGET].map({0: "no", 1: "yes"}).astype("str")})
    schema = schema_for("multiclass")  # a str target
    state = fit_feature_state(labels, FEATURES, schema, TARGET, "binary", ID, TIMESTAMP, GROUP)
    assert state["classes"] == ["no", "yes"]
    assert transform_features(labels, state)[TARGET].tolist() == frame[TARGET].tolist()


def test_binary_target_with_three_values_is_rejected() -> None:
    frame = make_frame("binary")
    frame.loc[:2, TARGET] = 2
    with pytest.raises(DataError, match=r"binary target 'label' has 3 distinct value"):
        fit(frame, "binary")


def test_multiclass_classes_are_sorted_and_unknown_labels_rejected() -> None:
    frame = make_frame("multiclass")
    state = fit(frame, "multiclass")
    assert state["classes"] == ["high", "low", "mid"]
    codes = transform_features(frame, state)[TARGET]
    assert codes.dtype == np.int64
    assert (frame[TARGET].to_numpy() == np.asarray(state["classes"])[codes]).all()
    odd = frame.head(3).assign(**{TARGET: ["low", "huge", "mid"]})
    with pytest.raises(DataError, match=r"1 row\(s\) with value\(s\) \['huge'\]"):
        transform_features(odd, state)


def test_numpy_target_values_are_json_serialisable() -> None:
    frame = make_frame("multiclass")
    frame[TARGET] = frame[TARGET].map({"low": 0, "mid": 1, "high": 2}).astype(np.int64)
    state = fit_feature_state(
        frame, FEATURES, schema_for("binary"), TARGET, "multiclass", ID, TIMESTAMP, GROUP
    )
    assert json.loads(json.dumps(state))["classes"] == [0, 1, 2]


# --- the fast transform equals the one before it -------------------------------------------

# The transform before the fast paths, kept as the reference (bench/features_before.py).
_BENCH = Path(__file__).resolve().parents[2] / "bench"
_before_spec = importlib.util.spec_from_file_location(
    "features_before", _BENCH / "features_before.py"
)
assert _before_spec is not None and _before_spec.loader is not None
before = importlib.util.module_from_spec(_before_spec)
_before_spec.loader.exec_module(before)

_PARTS = ["year", "month", "day", "dayofweek", "dayofyear", "hour"]
# Labels a request can send: known, folded (rare in training), the reserved one, unseen.
_LABELS = ["a", "b", "c", "rare", OTHER, "zz", ""]
_NS_RANGE = (int(pd.Timestamp.min.value), int(pd.Timestamp.max.value))


def _state(policy: str) -> dict[str, Any]:
    derived = [
        {"name": "ratio", "kind": "ratio", "numerator": "num_f", "denominator": "num_i"},
        {"name": "log", "kind": "log", "column": "num_f"},
        {"name": "when", "kind": "date_parts", "column": "ts", "parts": _PARTS},
    ]
    categorical = {
        "cat_s": ["a", "b", "c", OTHER],
        "cat_i": ["1", "2", "-3", OTHER],
        "cat_b": ["True", OTHER],
        "cat_f": ["1.0", "-0.0", OTHER],
    }
    numeric = ["num_f", "num_i", "num_b"]
    return {
        "version": 1,
        "task": "binary",
        "target": "y",
        "id_column": "id",
        "input_columns": [*numeric, *categorical, "ts"],
        "numeric": numeric,
        "categorical": categorical,
        "folded_categories": {"cat_s": ["rare"], "cat_i": ["7"]},
        "unseen_category": policy,
        "derived": derived,
        "classes": [0, 1],
        "feature_names": [
            *numeric,
            *categorical,
            "ratio",
            "log",
            *(f"when_{part}" for part in _PARTS),
        ],
        "categorical_features": list(categorical),
    }


_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-0.0, -np.nan, 1.0]),
)


@st.composite
def _frames(draw: st.DrawFn) -> pd.DataFrame:
    # Up to 150 rows: both sides of the fast path's factorize threshold (64 rows).
    rows = draw(st.integers(0, 150))

    def column(elements: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(elements, min_size=rows, max_size=rows))

    strings = column(st.one_of(st.sampled_from(_LABELS), st.sampled_from([None, np.nan])))
    string_dtype = draw(st.sampled_from([object, "string", "str"]))
    # Any datetime64[ns] value: the first and last days hold numpy's overflow edges.
    stamps = column(st.one_of(st.integers(*_NS_RANGE), st.sampled_from(_NS_RANGE), st.none()))
    frame = pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "num_f": np.array(column(_FLOATS), dtype=np.float64),
            "num_i": np.array(column(st.integers(-3, 3)), dtype=np.int64),
            "num_b": np.array(column(st.booleans()), dtype=bool),
            "cat_s": pd.Series(strings, dtype=string_dtype),
            "cat_i": np.array(column(st.sampled_from([1, 2, -3, 7, 99])), dtype=np.int64),
            "cat_b": np.array(column(st.booleans()), dtype=bool),
            "cat_f": np.array(column(st.sampled_from([1.0, -0.0, 0.0, np.nan])), dtype=float),
            "ts": pd.Series(
                [pd.NaT if value is None else pd.Timestamp(value) for value in stamps],
                dtype="datetime64[ns]",
            ),
        }
    )
    if draw(st.booleans()):
        frame["y"] = np.array(column(st.sampled_from([0, 1, 1, 0, 2])), dtype=np.int64)
    return frame


def _outcome(transform: Any, frame: pd.DataFrame, state: dict[str, Any]) -> Any:
    try:
        return transform(frame, state)
    except DataError as error:
        return str(error)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=_frames(), policy=st.sampled_from(["other", "error"]))
def test_fast_transform_equals_the_one_before(frame: pd.DataFrame, policy: str) -> None:
    """Every output bit (NaN signs included) and every error message are the old ones."""
    state = _state(policy)
    new, old = (
        _outcome(transform_features, frame, state),
        _outcome(before.transform_features, frame, state),
    )
    if isinstance(old, str):
        assert new == old
        return
    assert isinstance(new, pd.DataFrame)
    assert list(new.columns) == list(old.columns)
    assert list(new.dtypes) == list(old.dtypes)
    for name in old.columns:
        assert new[name].to_numpy().tobytes() == old[name].to_numpy().tobytes(), name
    fitted = parse_state(state)
    features = frame.drop(columns=["y"], errors="ignore")
    assert (
        transform_matrix(features, fitted).tobytes()
        == before.transform_matrix(features, fitted).tobytes()
    )


@given(
    values=st.lists(
        st.one_of(st.integers(-2, 3), st.booleans(), st.floats(), st.sampled_from(["0", "1"]))
    )
)
def test_class_codes_equal_the_per_row_lookup(values: list[Any]) -> None:
    """Target codes by factorizing equal the per-row dict lookup, for each dtype a column takes."""
    for series in (pd.Series(values, dtype=object), pd.Series(values)):
        assert (
            class_codes(series, [0, 1, 2.5]).tolist()
            == before.class_codes(series, [0, 1, 2.5]).tolist()
        )


def test_column_arrays_come_without_building_series() -> None:
    """The fast paths read pandas' column arrays; without the accessor they fall back (slow)."""
    frame = pd.DataFrame({"x": [1.5, np.nan], "s": ["a", None]})
    array = _column_array(frame, "x")
    assert isinstance(array, np.ndarray)
    assert array.tobytes() == frame["x"].to_numpy().tobytes()
    assert _column_array(pd.DataFrame([[1, 2]], columns=["x", "x"]), "x") is None
