"""Composition of every config group option, params.yaml freshness, clear config errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from reprokit.config.compose import (
    check_params,
    compose,
    compose_and_validate,
    load_config,
    write_params,
)
from reprokit.errors import ConfigError, StaleFileError

ROOT = Path(__file__).resolve().parents[2]
# Data configs need features that fit their columns: each has an experiment that pairs them.
DATA_EXPERIMENTS = {
    "credit": [],
    "breast_cancer": ["experiment=breast_cancer"],
    "diabetes": ["experiment=diabetes"],
    "wine": ["experiment=wine"],
}
# Options that only make sense with some data: (group, option) -> overrides to pair them.
PAIRED = {
    ("features", "auto"): ["experiment=breast_cancer"],
    ("evaluation", "regression"): ["experiment=diabetes"],
}


def group_options() -> list[tuple[str, str]]:
    conf = ROOT / "conf"
    return sorted(
        (group.name, option.stem)
        for group in conf.iterdir()
        if group.is_dir()
        for option in group.glob("*.yaml")
    )


@pytest.mark.parametrize(("group", "option"), group_options())
def test_every_group_option_composes_and_validates(group: str, option: str) -> None:
    if group == "data":
        overrides = DATA_EXPERIMENTS[option]
    elif group == "experiment":
        overrides = [f"experiment={option}"]
    else:
        overrides = [*PAIRED.get((group, option), []), f"{group}={option}"]
    composition, config = compose_and_validate(ROOT, overrides)
    assert composition.choices[group] == option
    assert config.model.objective == config.data.task


def test_params_yaml_is_what_dvc_hydra_composition_writes(tmp_path: Path) -> None:
    from dvc.utils.hydra import compose_and_dump

    output = tmp_path / "params.yaml"
    compose_and_dump(output, str(ROOT / "conf"), None, "config", "", [])
    assert output.read_text() == compose(ROOT).yaml_text


def test_committed_params_yaml_is_fresh() -> None:
    check_params(ROOT)
    assert load_config(ROOT).data.name == "credit"


def test_config_check_fails_when_conf_changes(project_copy: Path) -> None:
    check_params(project_copy)
    lightgbm = project_copy / "conf/model/lightgbm.yaml"
    lightgbm.write_text(lightgbm.read_text().replace("num_leaves: 31", "num_leaves: 15"))
    with pytest.raises(StaleFileError, match=r"model\.num_leaves"):
        check_params(project_copy)
    write_params(compose(project_copy))
    check_params(project_copy)


def test_unknown_key_names_key_file_and_allowed_keys(project_copy: Path) -> None:
    lightgbm = project_copy / "conf/model/lightgbm.yaml"
    lightgbm.write_text(lightgbm.read_text() + "num_leafs: 12\n")
    with pytest.raises(ConfigError) as raised:
        compose_and_validate(project_copy)
    message = str(raised.value)
    assert "unknown key `model.num_leafs`" in message
    assert "conf/model/lightgbm.yaml" in message
    assert "num_leaves" in message  # the allowed keys are listed


def test_wrong_type_names_value_and_override() -> None:
    with pytest.raises(ConfigError) as raised:
        compose_and_validate(ROOT, ["model.learning_rate=fast"])
    message = str(raised.value)
    assert "`model.learning_rate` (value 'fast')" in message
    assert "override `model.learning_rate=fast`" in message


def test_a_project_name_that_cannot_name_a_bentoml_model_is_refused() -> None:
    # `<project.name>-<data.name>` names the BentoML model: a BentoML tag name.
    with pytest.raises(ConfigError) as raised:
        compose_and_validate(ROOT, ["project.name=Credit Risk"])
    assert "`project.name` (value 'Credit Risk')" in str(raised.value)


def test_override_of_missing_key_is_rejected_by_hydra() -> None:
    with pytest.raises(ConfigError, match=r"model\.bogus"):
        compose_and_validate(ROOT, ["model.bogus=1"])


def test_unknown_group_option_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError, match="breast_cancer"):
        compose_and_validate(ROOT, ["data=nope"])


def test_cross_group_mismatch_is_explained() -> None:
    with pytest.raises(ConfigError, match=r"features\.derived\[debt_to_income\]"):
        compose_and_validate(ROOT, ["data=breast_cancer"])
    with pytest.raises(ConfigError, match=r"evaluation\.gate names \['roc_auc'\].*'regression'"):
        compose_and_validate(ROOT, ["experiment=diabetes", "evaluation.gate={roc_auc: {min: 0.7}}"])


@pytest.mark.parametrize(
    ("experiment", "gate"),
    [
        ([], {"roc_auc": {"min": 0.7}}),
        (["experiment=wine"], {"roc_auc_ovr": {"min": 0.7}}),
        (["experiment=diabetes"], {"r2": {"min": 0.2}}),
    ],
)
def test_default_gate_follows_the_task(experiment: list[str], gate: dict[str, Any]) -> None:
    composition, config = compose_and_validate(ROOT, experiment)
    assert composition.choices["evaluation"] == "default"
    assert composition.params["evaluation"]["gate"] == gate
    assert config.evaluation.gate == config.evaluation.gates[config.data.task]


def test_a_key_below_the_interpolated_gate_names_the_overrides_that_work() -> None:
    # Hydra's own advice (`+evaluation.gate.roc_auc.min=...`) would drop the other bounds.
    with pytest.raises(ConfigError) as raised:
        compose_and_validate(ROOT, ["evaluation.gate.roc_auc.min=0.8"])
    message = str(raised.value)
    assert "`evaluation.gate` is the interpolation `${.gates.${data.task}}`" in message
    assert "`evaluation.gate={...}`" in message and "+evaluation" not in message


def test_a_task_gate_is_checked_against_its_own_task() -> None:
    # Not the run's task (binary), yet a typo there is caught now, not when it is used.
    with pytest.raises(ConfigError, match=r"evaluation\.gates\.multiclass names \['macro_f'\]"):
        compose_and_validate(ROOT, ["+evaluation.gates.multiclass.macro_f.min=0.5"])


def test_invalid_params_yaml_names_params_yaml(project_copy: Path) -> None:
    params = yaml.safe_load((project_copy / "params.yaml").read_text())
    params["split"]["test_size"] = 1.5
    (project_copy / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match=r"`split\.test_size` \(value 1\.5\) in params\.yaml"):
        load_config(project_copy)


def test_compose_does_not_change_the_working_directory() -> None:
    before = Path.cwd()
    compose(ROOT, ["model.num_leaves=63"])
    assert Path.cwd() == before
