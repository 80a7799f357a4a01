"""What `kedro run` / `kedro viz` see: params.yaml through ReprokitConfigLoader, with
`--params a.b=1` overriding a nested key, and the catalog reprokit itself builds."""

from __future__ import annotations

import pytest
from kedro.config import MissingConfigException
from tests.support import PROJECT_ROOT

from reprokit.config.compose import read_params, validate
from reprokit.kedro_config import ReprokitConfigLoader
from reprokit.runner import catalog_config

CONF = str(PROJECT_ROOT / "conf")


def test_parameters_are_params_yaml() -> None:
    assert ReprokitConfigLoader(CONF)["parameters"] == read_params(PROJECT_ROOT)


def test_a_runtime_param_overrides_one_nested_key_and_leaves_params_yaml_alone() -> None:
    loader = ReprokitConfigLoader(CONF, runtime_params={"model.num_leaves": 7})
    parameters = loader["parameters"]
    params_yaml = read_params(PROJECT_ROOT)
    assert parameters["model"] == {**params_yaml["model"], "num_leaves": 7}
    assert read_params(PROJECT_ROOT)["model"] == params_yaml["model"]
    # The catalog is built from the overridden params, as `reprokit run` would build it.
    expected = catalog_config(validate({**params_yaml, "model": parameters["model"]}), PROJECT_ROOT)
    assert loader["catalog"] == expected


def test_credentials_are_empty_and_other_config_is_refused_by_name() -> None:
    loader = ReprokitConfigLoader(CONF)
    assert loader["credentials"] == {}
    with pytest.raises(MissingConfigException, match="reprokit serves no 'spark' config"):
        loader["spark"]
