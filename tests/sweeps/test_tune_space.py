"""`reprokit tune`'s search space: Hydra-style expressions to Optuna distributions."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from reprokit.sweeps.expand import SweepError
from reprokit.sweeps.tune import default_study_name, search_space, suggest


def test_expressions_become_optuna_dimensions(project_root: Path) -> None:
    space = search_space(
        project_root,
        [
            "model.num_leaves=int(range(8,128))",
            "model.learning_rate=tag(log,interval(0.01,0.3))",
            "model.feature_fraction=interval(0.5,1.0)",
            "model.max_depth=choice(-1,6,12)",
            "model.min_child_samples=range(10,50,10)",
            "seed=7",
        ],
    )
    dims = {d.key: d for d in space.dimensions}
    assert (dims["model.num_leaves"].kind, dims["model.num_leaves"].low) == ("int", 8)
    assert dims["model.num_leaves"].high == 127  # Python's range: the stop is excluded
    assert dims["model.learning_rate"].kind == "float" and dims["model.learning_rate"].log
    assert not dims["model.feature_fraction"].log
    assert dims["model.max_depth"].choices == ("-1", "6", "12")
    assert (dims["model.min_child_samples"].high, dims["model.min_child_samples"].step) == (40, 10)
    assert space.fixed == ["seed=7"]


def test_suggested_values_are_overrides_within_the_space(project_root: Path) -> None:
    space = search_space(
        project_root,
        ["model.num_leaves=int(range(8,128))", "model.learning_rate=tag(log,interval(0.01,0.3))"],
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        trial = study.ask()
        leaves, rate = (suggest(trial, d) for d in space.dimensions)
        assert leaves.startswith("model.num_leaves=") and 8 <= int(leaves.split("=")[1]) <= 127
        assert 0.01 <= float(rate.split("=")[1]) <= 0.3
        study.tell(trial, 0.0)


def test_study_name_follows_the_search_space(project_root: Path) -> None:
    one = search_space(project_root, ["model.num_leaves=int(range(8,128))"])
    other = search_space(project_root, ["model.num_leaves=int(range(8,64))"])
    assert default_study_name(one, ["__default__"]) == default_study_name(one, ["__default__"])
    assert default_study_name(one, ["__default__"]) != default_study_name(other, ["__default__"])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["model.num_leaves=31"], "nothing to search"),
        (["model.learning_rate=interval(0.3,0.01)"], "interval(a,b) needs a < b"),
        (["model.learning_rate=tag(log,interval(0,0.3))"], "log-scale interval must be above 0"),
        (["model.num_leaves=int(range(8,8))"], "the range is empty"),
        (["model.num_leaves=range(8"], "malformed override `model.num_leaves=range(8`"),
        (["hydra/launcher=joblib", "model.num_leaves=int(range(8,9))"], "no Hydra launcher"),
    ],
)
def test_bad_search_spaces_name_the_override(
    project_root: Path, arguments: list[str], message: str
) -> None:
    with pytest.raises(SweepError) as error:
        search_space(project_root, arguments)
    assert message in str(error.value)


def test_an_interrupted_trial_counts_as_failed_on_resume() -> None:
    from reprokit.sweeps.tune import _close_stale_trials, _finished

    study = optuna.create_study()
    study.tell(study.ask(), 1.0)
    study.ask()  # left RUNNING, as by a killed search
    assert _close_stale_trials(study) == 1
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL"]
    assert _finished(study) == 2
