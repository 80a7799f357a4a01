"""A mistyped config group or option on the command line: a did-you-mean naming the real
group (not Hydra's `+modle=...` advice, which leads to a second error) or option."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.project import copy_project
from tests.support.tools import run

from reprokit.config.compose import unknown_group, unknown_option


def _conf(tmp_path: Path) -> Path:
    for option in ("model/lightgbm", "model/xgboost", "data/credit"):
        path = tmp_path / "conf" / f"{option}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}\n", encoding="utf-8")
    return tmp_path / "conf"


def test_a_group_typo_names_the_group_meant_with_the_value(tmp_path: Path) -> None:
    hydra = "Could not override 'modle'.\nTo append to your config use +modle=lightgbm"
    assert unknown_group(_conf(tmp_path), ["seed=1", "modle=lightgbm"], hydra) == (
        "`modle` is not a config group of conf/; did you mean `model=lightgbm`? "
        "groups: ['data', 'model']"
    )


def test_a_key_no_group_resembles_keeps_hydras_message(tmp_path: Path) -> None:
    hydra = "Could not override 'sed'.\nTo append to your config use +sed=1"
    assert unknown_group(_conf(tmp_path), ["sed=1"], hydra) is None


def test_an_option_typo_names_the_option_meant_and_all_options(tmp_path: Path) -> None:
    hydra = "In 'config': Could not find 'model/lightgmb'\n\nAvailable options in 'model':"
    assert unknown_option(_conf(tmp_path), hydra) == (
        "`lightgmb` is not an option of config group `model`; did you mean "
        "`model=lightgbm`? options: ['lightgbm', 'xgboost']"
    )
    far = "In 'config': Could not find 'model/zzz'"
    assert unknown_option(_conf(tmp_path), far) == (
        "`zzz` is not an option of config group `model`; options: ['lightgbm', 'xgboost']"
    )


def test_config_show_answers_a_group_typo_with_the_group_meant(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    result = run(["reprokit", "config", "show", "modle=lightgbm"], project, check=False)
    assert result.returncode == 2
    assert "did you mean `model=lightgbm`?" in result.stderr
    assert "+modle" not in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "data.source.path=missing.csv",
            "the override `data.source.path=missing.csv` sets `data.source.path`, which conf/ "
            "does not have (`data.source` holds ['kind', 'rows', 'seed']); did you mean "
            "`data.path=missing.csv`?",
        ),
        (
            "+data.source.path=missing.csv",
            "`data.source` in the override `+data.source.path=missing.csv` (its kind set in "
            "conf/data/credit.yaml): data.source of kind 'synthetic_credit': unknown key "
            "`data.source.path`",
        ),
        ("data.source.rows=abc", "`data.source` in the override `data.source.rows=abc`:"),
    ],
)
def test_an_override_under_data_source_is_named_not_the_data_file(
    tmp_path: Path, override: str, expected: str
) -> None:
    project = copy_project(tmp_path)
    result = run(["reprokit", "config", "show", override], project, check=False)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "` in conf/data/credit.yaml" not in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_defaults_cycle_only_an_override_makes_is_the_clean_cycle_message(
    tmp_path: Path,
) -> None:
    project = copy_project(tmp_path)
    # Hydra fills `${model}` with the model chosen: only `model=loopy` makes it include itself.
    (project / "conf/model/loopy.yaml").write_text("defaults:\n  - /model@inner: ${model}\n")
    assert run(["reprokit", "config", "show"], project, check=False).returncode == 0
    result = run(["reprokit", "config", "show", "model=loopy"], project, check=False)
    assert result.returncode == 2
    assert result.stderr == (
        "error: the defaults lists of conf/ include each other in a cycle (with the overrides "
        "['model=loopy']): conf/model/loopy.yaml -> conf/model/loopy.yaml; remove one of "
        "these entries from a `defaults:` list\n"
    )
    assert "Traceback" not in result.stdout
