"""Keys a user's own node binds: allowed, type-checked against the node's hints; others not."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from reprokit.config.compose import compose, validate
from reprokit.config.user_params import without_keys
from reprokit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
FUNC = f"{__name__}.clip"


def clip(frame: Any, limits: list[float], label) -> Any:  # type: ignore[no-untyped-def]
    """A user's node: `limits` is annotated, `label` is not."""
    return frame


@cache
def _default_params() -> dict[str, Any]:
    return compose(ROOT).params


def with_node(params_binding: dict[str, str], **values: Any) -> dict[str, Any]:
    """The default composed config plus node `clip` binding `params_binding`, and
    `values` set at their dotted keys."""
    params = copy.deepcopy(_default_params())
    params["pipeline"]["nodes"]["clip"] = {
        "func": FUNC,
        "inputs": {"frame": "primary"},
        "params": params_binding,
        "outputs": "clipped",
    }
    for dotted, value in values.items():
        *parents, leaf = dotted.split("__")
        node = params
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return params


def test_a_bound_user_key_is_accepted_and_stays_in_params() -> None:
    params = with_node(
        {"limits": "features.winsor_limits", "label": "mine.label"},
        features__winsor_limits=[0.01, 0.99],
        mine__label={"any": ["yaml"]},  # unannotated: any value
    )
    config = validate(params)
    assert config.pipeline.nodes["clip"].params["limits"] == "features.winsor_limits"
    assert params["features"]["winsor_limits"] == [0.01, 0.99]


def test_a_wrong_type_names_key_file_node_and_expected_type() -> None:
    params = with_node({"limits": "features.winsor_limits"}, features__winsor_limits=[0.01, "x"])
    with pytest.raises(ConfigError) as caught:
        validate(params, lambda key: f"conf/{key.split('.')[0]}/credit.yaml")
    message = str(caught.value)
    assert "`features.winsor_limits[1]` (value 'x') in conf/features/credit.yaml" in message
    assert f"node 'clip' ({FUNC}, argument `limits`) expects list[float]" in message


def test_an_unbound_unknown_key_is_still_rejected_as_today() -> None:
    params = with_node(
        {"limits": "features.winsor_limits"},
        features__winsor_limits=[0.01, 0.99],
        features__winsor_limit=[0.0, 1.0],
    )
    with pytest.raises(ConfigError) as caught:
        validate(params)
    message = str(caught.value)
    assert "invalid config (1 problem)" in message
    assert "unknown key `features.winsor_limit` (value [0.0, 1.0]) in params.yaml" in message
    assert "allowed keys here: ['categorical', 'derived'," in message


def test_a_bound_key_missing_from_the_config_names_key_and_node() -> None:
    params = with_node({"limits": "features.winsor_limits"})
    with pytest.raises(ConfigError) as caught:
        validate(params, lambda _key: "conf/features/credit.yaml")
    assert (
        f"missing key `features.winsor_limits`, bound by node 'clip' ({FUNC}, argument "
        f"`limits`); set it in conf/features/credit.yaml"
    ) in str(caught.value)


def test_removing_a_user_key_keeps_its_siblings_and_declared_sections() -> None:
    params = {"features": {"winsor": {"lo": 1, "hi": 2}}, "mine": {"a": 1}}
    stripped = without_keys(params, ["features.winsor.lo", "features.winsor.hi", "mine.a"])
    assert stripped == {"features": {}}
    assert without_keys(params, ["features.winsor.lo"]) == {
        "features": {"winsor": {"hi": 2}},
        "mine": {"a": 1},
    }
