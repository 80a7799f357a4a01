"""Data sources come from a public registry: a package's own kind works through config alone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tests.plugins import install_plugin, restored
from tests.support import PROJECT_ROOT

from reprokit.config.compose import workspace_from_conf
from reprokit.config.sources import SOURCES
from reprokit.datagen import DataSource, register_source, registered_sources
from reprokit.datagen.prepare import ensure_source
from reprokit.dvcgen.generate import stages_for
from reprokit.errors import ConfigError

# The user's package: a source of its own, declared by entry point in its metadata.
PLUGIN = """
    from pathlib import Path

    import pandas as pd

    from reprokit.datagen import DataSource


    class ConstantSource(DataSource):
        rows: int
        value: float = 1.0

        def materialize(self, path: Path) -> int:
            pd.DataFrame({"x": [self.value] * self.rows}).to_parquet(path)
            return self.rows
"""
AS_CONSTANT = ["data.source.kind=constant", "~data.source.seed", "data.source.rows=5"]


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The package, in the `src/` of a project at `tmp_path`."""
    points = {"reprokit.sources": {"constant": "my_sources:ConstantSource"}}
    (tmp_path / "src").mkdir()
    install_plugin(monkeypatch, tmp_path / "src", "my_sources", PLUGIN, points)


def test_an_installed_packages_source_kind_works_through_config_alone(
    plugin: None, tmp_path: Path
) -> None:
    config = workspace_from_conf(PROJECT_ROOT, [*AS_CONSTANT, "+data.source.value=2.5"]).config
    assert type(config.data.source.parsed()).__module__ == "my_sources"
    assert ensure_source(config.data.source.model_dump(), "raw.parquet", tmp_path) is True
    assert pd.read_parquet(tmp_path / "raw.parquet")["x"].tolist() == [2.5] * 5
    # Written once: the marker knows these params wrote this file.
    assert ensure_source(config.data.source.model_dump(), "raw.parquet", tmp_path) is False
    assert "constant" in registered_sources()
    # Its DVC `data` stage depends on the source's code (a change writes the data again).
    data_stage = next(stage for stage in stages_for(config, tmp_path) if stage.name == "data")
    assert "src/my_sources.py" in data_stage.deps


def test_a_source_kinds_keys_are_validated_naming_the_key_and_the_allowed_ones(
    plugin: None,
) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown key `data\.source\.colour`; kind 'constant' takes \['rows'"
    ):
        workspace_from_conf(PROJECT_ROOT, [*AS_CONSTANT, "+data.source.colour=red"])


def test_an_unknown_kind_names_the_key_and_the_registered_kinds() -> None:
    with pytest.raises(
        ConfigError,
        match=r"data\.source\.kind is 's3'.*registered: \['bundled', 'file', 'synthetic_credit'\]",
    ):
        workspace_from_conf(PROJECT_ROOT, ["data.source.kind=s3"])


class UserFile(DataSource):
    """A source registered in code: data the user provides, only checked."""

    writes = False

    def materialize(self, path: Path) -> int:
        return len(pd.read_parquet(path))


def test_a_source_registered_in_code_is_only_checked_when_it_writes_nothing(
    tmp_path: Path,
) -> None:
    with restored(SOURCES):
        register_source("user_file", UserFile)
        pd.DataFrame({"x": [1, 2, 3]}).to_parquet(tmp_path / "mine.parquet")
        assert ensure_source({"kind": "user_file"}, "mine.parquet", tmp_path) is False
    assert not (tmp_path / ".reprokit").exists()  # no marker: reprokit wrote nothing
