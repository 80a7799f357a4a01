"""Fixtures for the node tests: transformed splits per task, computed once per session."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from typing import Any

import pandas as pd
import pytest
from node_data import ID, SPLIT, TARGET, fit, make_frame

from reprokit.nodes.features import transform_features
from reprokit.nodes.split import split_frame

Prepared = tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]


@cache
def _prepared(task: str) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    train, valid, test = split_frame(make_frame(task), SPLIT, TARGET, task, ID)
    state = fit(train, task)
    return (
        state,
        transform_features(train, state),
        transform_features(valid, state),
        transform_features(test, state),
    )


@pytest.fixture
def prepared() -> Callable[[str], Prepared]:
    """(state, train, valid, test) transformed for a task; copies, so tests may mutate."""

    def get(task: str) -> Prepared:
        state, train, valid, test = _prepared(task)
        return copy.deepcopy(state), train.copy(), valid.copy(), test.copy()

    return get
