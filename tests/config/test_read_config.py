"""`data.read` is validated like every section (a typo gets a did-you-mean), and the
undocumented `catalog.<table>.load_args` is refused with a pointer to `data.read`."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
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


def test_date_format_per_column_is_validated_and_read(tmp_path: Path) -> None:
    from reprokit.config.read import ReadOptions
    from reprokit.io import read_table

    with pytest.raises(ValidationError, match=r"date_format names \['ende'\].*date_columns"):
        ReadOptions(date_columns=["beginn"], date_format={"ende": "%Y-%m-%d"})
    path = tmp_path / "t.csv"
    path.write_text("beginn,ende,frei\n15.10.2023,2024-02-01,03/04/2024\n", encoding="utf-8")
    read = ReadOptions(
        date_columns=["beginn", "ende", "frei"],
        date_format={"beginn": "%d.%m.%Y", "ende": "%Y-%m-%d"},  # frei: inferred
    )
    row = read_table(path, read).iloc[0]
    assert (row["beginn"], row["ende"], row["frei"]) == (
        pd.Timestamp("2023-10-15"),
        pd.Timestamp("2024-02-01"),
        pd.Timestamp("2024-03-04"),
    )
    path.write_text("beginn,ende\n15.10.2023,soon\n", encoding="utf-8")
    from reprokit.io.read import TableReadError

    with pytest.raises(TableReadError, match=r"column 'ende'.*\['soon'\].*date_format\.ende"):
        read_table(
            path,
            {
                "date_columns": ["beginn", "ende"],
                "date_format": {"ende": "%Y-%m-%d"},
                "dayfirst": True,
            },
        )


def test_an_undeclared_boolean_spelling_is_named_with_the_options(tmp_path: Path) -> None:
    from reprokit.io import read_table
    from reprokit.io.read import TableReadError, check_booleans

    path = tmp_path / "batch.csv"
    path.write_text("member,n\nyes,1\nmaybe,2\nno,3\n", encoding="utf-8")
    read = {"true_values": ["yes"], "false_values": ["no"]}
    frame = read_table(path, read)
    with pytest.raises(TableReadError) as raised:
        check_booleans(frame, ["member"], read, path)
    assert str(raised.value) == (
        f"file {path}: column 'member' holds booleans for the model, but here also ['maybe']; "
        "declare the spellings in data.read.true_values / data.read.false_values (now "
        "['yes'] / ['no']) or fix the file"
    )
    path.write_text("member,n\nyes,1\nno,3\n", encoding="utf-8")
    check_booleans(read_table(path, read), ["member", "absent"], read, path)
