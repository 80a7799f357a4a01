"""Hydra's private APIs as reprokit._compat.hydra uses them: the override parser on a
`conf/` (glob() over config group options) and BasicSweeper's expansion."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import HydraException

from reprokit._compat.hydra import (
    apply_value_overrides,
    override_parser,
    split_value_overrides,
    sweep_jobs,
)


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    for option in ("b", "a"):
        (tmp_path / "model").mkdir(exist_ok=True)
        (tmp_path / "model" / f"{option}.yaml").write_text("x: 1\n", encoding="utf-8")
    return tmp_path


def test_sweeps_expand_to_the_cartesian_product_in_hydras_order(conf: Path) -> None:
    parse = override_parser(conf).parse_overrides
    assert sweep_jobs(parse(["model=glob(*)", "seed=1,2"])) == [
        ["model=a", "seed=1"],
        ["model=a", "seed=2"],
        ["model=b", "seed=1"],
        ["model=b", "seed=2"],
    ]
    assert sweep_jobs(parse(["seed=3"])) == [["seed=3"]]
    assert sweep_jobs([]) == [[]]
    assert sweep_jobs(parse(["model=glob(z*)"])) == []  # an empty glob: no job


def test_a_malformed_override_is_a_hydra_exception(conf: Path) -> None:
    with pytest.raises(HydraException):
        override_parser(conf).parse_overrides(["a=[1,"])


def test_overrides_split_into_values_and_group_choices(conf: Path) -> None:
    values, groups = split_value_overrides(conf, ["model=a", "seed=1", "model.x=2", "a.b=[1,2]"])
    assert (values, groups) == (["seed=1", "model.x=2", "a.b=[1,2]"], ["model=a"])
    # Whatever Hydra treats otherwise than "compose the defaults, then set the value".
    for other in ("+seed=1", "++seed=1", "~seed", "seed=1,2", "model@m=a", "hydra.job.name=x"):
        assert split_value_overrides(conf, ["seed=1", other]) is None, other
    assert split_value_overrides(conf, ["a=[1,"]) is None  # does not parse


def test_value_overrides_apply_as_hydra_applies_them(conf: Path) -> None:
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"seed": 0, "model": {"x": 1}, "mean": "${model.x}"})
    OmegaConf.set_struct(cfg, True)
    apply_value_overrides(cfg, ["seed=7", "model.x=0.5", "model.x=null"])
    assert OmegaConf.to_container(cfg, resolve=True) == {
        "seed": 7,
        "model": {"x": None},
        "mean": None,
    }
    with pytest.raises(HydraException):  # struct mode: no new keys without `+`
        apply_value_overrides(cfg, ["model.y=1"])
