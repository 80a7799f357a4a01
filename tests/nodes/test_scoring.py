"""reprokit.nodes.scoring: the evaluate pipeline's nodes share one prediction per input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from node_data import model_params

from reprokit.models import load_model
from reprokit.nodes.features import model_inputs, parse_state
from reprokit.nodes.scoring import matrix_key, predict
from reprokit.nodes.train import train_model

Prepared = Callable[[str], tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]]


def test_equal_inputs_are_predicted_once_and_as_the_model_predicts(prepared: Prepared) -> None:
    state, train, valid, test = prepared("binary")
    model, _ = train_model(train, valid, state, model_params("binary"), 1)
    names = parse_state(state).feature_names
    matrix, _ = model_inputs(test, parse_state(state), "test")

    first = predict(model, names, matrix)
    # Another load of the same split: a new array of the same values.
    again = predict(model, names, matrix.copy(order="K"))
    assert again is first
    assert not first.flags.writeable
    np.testing.assert_array_equal(first, load_model(model, names).predict(matrix))

    changed = matrix.copy()
    changed[0, 0] += 1.0
    assert matrix_key(changed) != matrix_key(matrix)
    assert predict(model, names, changed) is not first
