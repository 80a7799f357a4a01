"""A sweep's Composer composes every job exactly as `compose` does, errors included."""

from __future__ import annotations

import pytest
from tests.support import PROJECT_ROOT as ROOT

from reprokit.config.compose import compose
from reprokit.errors import ConfigError
from reprokit.sweeps.composer import Composer


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.num_leaves=63", "data.source.rows=500"],
        ["model=xgboost", "model.max_depth=3", "seed=11"],
        # A group choice that moves an interpolation (`evaluation.gate` follows data.task),
        # then a value below it.
        ["experiment=wine", "evaluation.gates.multiclass.roc_auc_ovr.min=0.6"],
        ["engine.num_threads=1", "split.test_size=0.3", "model.learning_rate=1e-2"],
    ],
)
def test_composer_composes_as_compose(overrides: list[str]) -> None:
    composer = Composer(ROOT)
    composer.compose(["seed=3"])  # a base composed before: the next compose starts from it
    ours, theirs = composer.compose(overrides), compose(ROOT, overrides)
    assert ours.yaml_text == theirs.yaml_text
    assert (ours.params, ours.choices, ours.overrides) == (
        theirs.params,
        theirs.choices,
        theirs.overrides,
    )


def test_composer_reports_errors_as_compose() -> None:
    overrides = ["model.num_leafs=15"]
    with pytest.raises(ConfigError) as theirs:
        compose(ROOT, overrides)
    with pytest.raises(ConfigError) as ours:
        Composer(ROOT).compose(overrides)
    assert str(ours.value) == str(theirs.value)
    assert "model.num_leaves" in str(ours.value)  # the key most likely meant
