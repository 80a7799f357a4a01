"""`data.read` is validated like every section (a typo gets a did-you-mean), and the
undocumented `catalog.<table>.load_args` is refused with a pointer to `data.read`."""

from __future__ import annotations

import copy
from pathlib import Path
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


def test_read_options_reach_the_raw_dataset_and_the_node_cache_key(tmp_path: Path) -> None:
    """`data.read` flows into `catalog.raw.read` (what the dataset reads with and what
    params.yaml and the DVC stage record), so the ingest node's cache key changes with it."""
    from reprokit.config.compose import compose_and_validate
    from reprokit.node_cache import NodeCache

    raw = tmp_path / "raw.csv"
    raw.write_text("a\n1\n")

    def ingest_key(*overrides: str) -> str | None:
        composition, config = compose_and_validate(PROJECT_ROOT, overrides)
        catalog = {**config.catalog, "raw": {**config.catalog["raw"], "filepath": str(raw)}}
        config = config.model_copy(update={"catalog": catalog})
        return NodeCache(PROJECT_ROOT, composition.params).key(config, "ingest")

    _, latin = compose_and_validate(PROJECT_ROOT, ["+data.read.encoding=latin-1"])
    assert latin.catalog["raw"]["read"] == {"encoding": "latin-1"}
    assert latin.data.read.encoding == "latin-1"
    default = ingest_key()
    assert default is not None
    assert ingest_key("+data.read.encoding=latin-1") != default
