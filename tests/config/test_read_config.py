"""`data.read` is validated like every section (a typo gets a did-you-mean), and the
undocumented `catalog.<table>.load_args` is refused with a pointer to `data.read`."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError
from tests.support import PROJECT_ROOT

from reprokit.config.compose import read_params
from reprokit.config.errors import explain_lines
from reprokit.config.models import ReprokitConfig


def lines(change: Any) -> list[str]:
    params = copy.deepcopy(read_params(PROJECT_ROOT))
    change(params)
    with pytest.raises(ValidationError) as raised:
        ReprokitConfig.model_validate(params)
    return explain_lines(raised.value, lambda key: f"<{key}>")


def test_a_misspelled_read_option_names_the_key_and_the_closest_one() -> None:
    found = lines(lambda params: params["data"].update(read={"encodng": "latin-1"}))
    assert len(found) == 1
    assert "unknown key `data.read.encodng`" in found[0]
    assert "did you mean `data.read.encoding`?" in found[0]


def test_catalog_load_args_are_refused_in_favour_of_data_read() -> None:
    found = lines(lambda params: params["catalog"]["raw"].update(load_args={"sep": ";"}))
    assert "catalog.raw.load_args is not supported" in found[0]
    assert "data.read" in found[0]


def test_a_bad_catalog_read_entry_is_named() -> None:
    found = lines(lambda params: params["catalog"]["raw"].update(read={"sep": ";"}))
    assert "catalog.raw.read.sep: Extra inputs are not permitted" in found[0]
