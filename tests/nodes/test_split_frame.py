"""split_frame: sizes, disjointness, determinism, stratification, time and group guards."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from node_data import GROUP, ID, SPLIT, TARGET, TIMESTAMP, make_frame

from reprokit.errors import ConfigError, DataError, LeakageError
from reprokit.nodes.split import check_time_order, split_frame


def split(frame: pd.DataFrame, task: str = "binary", **overrides: Any) -> list[pd.DataFrame]:
    return list(split_frame(frame, {**SPLIT, **overrides}, TARGET, task, ID))


def test_stratified_sizes_cover_every_row_once() -> None:
    frame = make_frame("binary")
    train, valid, test = split(frame)
    assert (len(train), len(valid), len(test)) == (420, 60, 120)
    ids = pd.concat([train[ID], valid[ID], test[ID]])
    assert ids.is_unique
    assert sorted(ids) == list(frame[ID])


def test_stratified_keeps_class_balance() -> None:
    frame = make_frame("binary")
    overall = frame[TARGET].mean()
    for part in split(frame):
        assert abs(part[TARGET].mean() - overall) < 0.02


def test_multiclass_is_stratified_too() -> None:
    frame = make_frame("multiclass")
    shares = frame[TARGET].value_counts(normalize=True)
    _, _, test = split(frame, task="multiclass")
    test_shares = test[TARGET].value_counts(normalize=True)
    assert (test_shares - shares).abs().max() < 0.02


def test_rows_keep_original_order_and_fresh_index() -> None:
    frame = make_frame("binary").sample(frac=1.0, random_state=0)  # shuffled input
    for part in split(frame):
        assert part.index.equals(pd.RangeIndex(len(part)))
        positions = frame.reset_index(drop=True).reset_index().set_index(ID).loc[part[ID], "index"]
        assert positions.is_monotonic_increasing


def test_same_seed_same_frames_other_seed_other_frames() -> None:
    frame = make_frame("binary")
    first, second = split(frame), split(frame)
    for a, b in zip(first, second, strict=True):
        pd.testing.assert_frame_equal(a, b)
    other = split(frame, seed=4)
    assert set(other[2][ID]) != set(first[2][ID])


def test_input_frame_is_not_modified() -> None:
    frame = make_frame("binary")
    before = frame.copy()
    split(frame)
    pd.testing.assert_frame_equal(frame, before)


def test_zero_valid_size_gives_empty_valid_with_same_columns() -> None:
    frame = make_frame("binary")
    train, valid, test = split(frame, valid_size=0.0)
    assert valid.empty
    assert list(valid.columns) == list(frame.columns)
    assert len(train) + len(test) == len(frame)


def test_regression_splits_without_stratifying() -> None:
    train, valid, test = split(make_frame("regression"), task="regression")
    assert (len(train), len(valid), len(test)) == (420, 60, 120)


def test_singleton_class_cannot_be_stratified() -> None:
    frame = make_frame("binary")
    frame.loc[0, TARGET] = 7
    with pytest.raises(DataError, match=r"stratified on 'label'"):
        split(frame)


def test_duplicate_ids_across_splits_are_leakage() -> None:
    frame = make_frame("binary")
    frame[ID] = frame[ID] % 200  # every id three times: they cannot all land together
    with pytest.raises(LeakageError, match=r"id column 'row_id': \d+ value\(s\) appear in both"):
        split(frame)


def test_time_split_orders_splits_and_keeps_ties_together() -> None:
    frame = make_frame("binary").sample(frac=1.0, random_state=1)
    train, valid, test = split(frame, kind="time", column=TIMESTAMP)
    assert train[TIMESTAMP].max() < valid[TIMESTAMP].min()
    assert valid[TIMESTAMP].max() < test[TIMESTAMP].min()
    stamps = [set(part[TIMESTAMP]) for part in (train, valid, test)]
    assert not (stamps[0] & stamps[1]) and not (stamps[1] & stamps[2])
    assert len(test) >= 0.2 * len(frame) and len(valid) >= 0.1 * len(frame)
    assert len(train) + len(valid) + len(test) == len(frame)


def test_time_split_moves_cut_to_timestamp_boundary() -> None:
    frame = make_frame("binary", rows=10)
    frame[TIMESTAMP] = pd.to_datetime(["2021-01-01"] * 5 + ["2021-01-02"] * 5)
    train, valid, test = split(frame, kind="time", column=TIMESTAMP, valid_size=0.0, test_size=0.3)
    # 30% would cut inside the second day; the whole day goes to test instead.
    assert (len(train), len(valid), len(test)) == (5, 0, 5)


def test_time_split_with_one_timestamp_leaves_no_train() -> None:
    frame = make_frame("binary", rows=50)
    frame[TIMESTAMP] = pd.Timestamp("2021-01-01")
    with pytest.raises(DataError, match=r"1 distinct timestamp\(s\) leave no row for train"):
        split(frame, kind="time", column=TIMESTAMP)


def test_time_order_guard_names_overlap() -> None:
    stamps = pd.to_datetime(["2021-01-01", "2021-01-05", "2021-01-03", "2021-01-06"])
    parts = {
        "train": pd.DataFrame({TIMESTAMP: stamps[:2]}),
        "valid": pd.DataFrame({TIMESTAMP: stamps[2:3]}),
        "test": pd.DataFrame({TIMESTAMP: stamps[3:]}),
    }
    with pytest.raises(LeakageError, match=r"1 valid row\(s\) are at or before the newest train"):
        check_time_order(parts, TIMESTAMP)


def test_group_split_puts_each_group_in_one_split() -> None:
    frame = make_frame("binary")
    parts = split(frame, kind="group", column=GROUP)
    groups = [set(part[GROUP]) for part in parts]
    assert all(groups)
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert set().union(*groups) == set(frame[GROUP])
    again = split(frame, kind="group", column=GROUP)
    for a, b in zip(parts, again, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_group_split_needs_enough_groups() -> None:
    frame = make_frame("binary", rows=40)
    frame[GROUP] = 1
    with pytest.raises(DataError, match=r"1 group\(s\) of column 'branch'"):
        split(frame, kind="group", column=GROUP)


def test_missing_target_values_are_rejected() -> None:
    frame = make_frame("regression")
    frame.loc[[3, 5], TARGET] = np.nan
    with pytest.raises(DataError, match=r"target column 'label' has 2 missing value"):
        split(frame, task="regression")


def test_missing_column_is_named() -> None:
    frame = make_frame("binary").drop(columns=[GROUP])
    with pytest.raises(DataError, match=r"missing: \['branch'\]"):
        split(frame, kind="group", column=GROUP)


def test_unknown_split_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"split\.shuffle"):
        split(make_frame("binary"), shuffle=True)
