"""An execution's input data: the catalog files the pipelines read and no node writes."""

from __future__ import annotations

from pathlib import Path

from tests.support import PROJECT_ROOT

from reprokit.config.compose import workspace_from_conf
from reprokit.layout import free_input_files


def test_only_the_raw_table_is_input_data_and_relative_paths_join_the_root() -> None:
    config = workspace_from_conf(PROJECT_ROOT).config
    assert free_input_files(config, Path("/project")) == {
        "raw": Path("/project") / config.catalog["raw"]["filepath"]
    }


def test_an_absolute_catalog_path_stays_as_it_is() -> None:
    config = workspace_from_conf(PROJECT_ROOT, ["catalog.raw.filepath=/data/credit.parquet"]).config
    assert free_input_files(config, Path("/project")) == {"raw": Path("/data/credit.parquet")}
