"""Hydra's private APIs as reprokit._compat.hydra uses them: the override parser on a
`conf/` (glob() over config group options) and BasicSweeper's expansion."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import HydraException

from reprokit._compat.hydra import override_parser, sweep_jobs


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
