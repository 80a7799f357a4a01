"""Validation errors as the user reads them: the key they write, where it came from, the
allowed keys. Straight from pydantic on the project's own params (no Hydra composition)."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest
from pydantic import ValidationError
from tests.support import PROJECT_ROOT

from reprokit.config.compose import read_params
from reprokit.config.errors import explain, explain_lines
from reprokit.config.models import ReprokitConfig


@cache
def _params() -> dict[str, Any]:
    return read_params(PROJECT_ROOT)


def problems(change: dict[str, Any]) -> list[str]:
    """The lines for params.yaml with `change` applied (dotted key -> value, None deletes),
    each key's provenance shown as <key>."""
    params = copy.deepcopy(_params())
    for key, value in change.items():
        *parents, last = key.split(".")
        node: Any = params
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    with pytest.raises(ValidationError) as raised:
        ReprokitConfig.model_validate(params)
    return explain_lines(raised.value, lambda key: f"<{key}>")


def test_an_unknown_key_lists_the_keys_allowed_beside_it() -> None:
    (line,) = problems({"model.num_leavez": 5})
    assert line.startswith("unknown key `model.num_leavez` (value 5) in <model.num_leavez>; ")
    assert "allowed keys here: ['bagging_fraction', " in line and "'num_leaves'" in line


def test_a_missing_key_and_a_bad_value_name_their_key() -> None:
    assert problems({"data.task": None}) == ["missing key `data.task` (required) in <data.task>"]
    (line,) = problems({"split.test_size": "x"})
    assert line.startswith("`split.test_size` (value 'x') in <split.test_size>: Input should be")


def test_a_key_inside_a_tagged_union_is_the_key_the_user_writes() -> None:
    """Before: `data.source.synthetic_credit.rows`, a key no config file can hold, and its
    provenance looked up under that key."""
    (line,) = problems({"data.source.rows": "many"})
    assert "`data.source.rows` = 'many'" in line
    assert "synthetic_credit.rows" not in line


def test_an_unknown_key_in_a_list_of_tagged_items_lists_their_keys() -> None:
    """Before: `allowed keys here: []` (the lookup did not step into lists)."""
    (line,) = problems({"features.derived.0.bogus": 1})
    assert line.startswith("unknown key `features.derived.0.bogus` (value 1)")
    assert "'denominator'" in line and "'numerator'" in line and "'kind'" in line


def test_several_problems_are_one_message_one_line_each() -> None:
    params = copy.deepcopy(_params())
    params["model"]["num_leavez"] = 5
    params["split"]["test_size"] = "x"
    with pytest.raises(ValidationError) as raised:
        ReprokitConfig.model_validate(params)
    message = explain(raised.value, lambda key: "conf/x.yaml")
    assert message.startswith("invalid config (2 problems):\n  - ")
    assert message.count("\n  - ") == 2
