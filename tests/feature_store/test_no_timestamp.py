"""Data with an id and no timestamp column (breast_cancer) gets a feature store: `auto` turns
it on, Feast's source is an event table with a generated, deterministic event time (row
order: an id's last row wins), the `materialize` stage writes it, incremental loads keep
working on real Feast, and point-in-time training sets are refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from tests.support import PROJECT_ROOT, VENV_BIN, git_init, run

from reprokit.config.compose import compose_and_validate
from reprokit.config.models import GENERATED_EVENT_TIME, ReprokitConfig
from reprokit.dvcgen.generate import stages_for
from reprokit.errors import ConfigError
from reprokit.feature_store import render
from reprokit.feature_store.events import EVENT_TIME_BASE, event_table
from reprokit.feature_store.spec import (
    DEFINITIONS_FILE,
    EVENT_TABLE_FILE,
    MATERIALIZED_FILE,
    STAGE,
    feature_repo,
)
from reprokit.feature_store.store import plan, rows_digest

NO_TIME = ["experiment=breast_cancer"]


def _config(*overrides: str) -> ReprokitConfig:
    return compose_and_validate(PROJECT_ROOT, [*NO_TIME, *overrides])[1]


def test_auto_is_on_with_an_id_alone_and_the_source_is_the_event_table() -> None:
    config = _config()
    assert config.data.timestamp_column is None and config.feature_store_on
    repo = feature_repo(config)
    assert (repo.source, repo.timestamp_column, repo.generated_time) == (
        EVENT_TABLE_FILE,
        GENERATED_EVENT_TIME,
        True,
    )
    definitions = render.render(config)[Path(DEFINITIONS_FILE)]
    assert f'path="../{EVENT_TABLE_FILE}",\n    timestamp_field="{GENERATED_EVENT_TIME}"' in (
        definitions
    )
    (stage,) = [s for s in stages_for(config, PROJECT_ROOT) if s.name == STAGE]
    assert stage.deps[0] == "data/02_intermediate/primary.parquet"
    assert stage.as_yaml()["outs"] == [
        {MATERIALIZED_FILE: {"cache": False}},
        {EVENT_TABLE_FILE: {"cache": False}},
    ]
    # Without an id there is no entity: auto is off, and true says which key is missing.
    off = _config("data.id_column=null")
    assert not off.feature_store_on and render.render(off) == {}
    with pytest.raises(ConfigError, match=r"data\.id_column \(breast_cancer\) is null"):
        _config("data.id_column=null", "feature_store.enabled=true")


def test_auto_is_off_for_dtypes_the_store_cannot_hold_and_true_names_them() -> None:
    narrow = "data.schema.columns.mean_radius.dtype=float32"
    assert not _config(narrow).feature_store_on
    with pytest.raises(ConfigError, match=r"\{'mean_radius': 'float32'\} have dtypes"):
        _config(narrow, "feature_store.enabled=true")


def test_point_in_time_training_sets_need_a_real_timestamp() -> None:
    with pytest.raises(
        ConfigError, match=r"feature_store\.training_entities is set but data\.timestamp_column"
    ):
        _config("feature_store.training_entities=data/01_raw/examples.parquet")


def test_a_data_column_named_like_the_generated_time_is_refused() -> None:
    with pytest.raises(ConfigError, match=rf"has a column '{GENERATED_EVENT_TIME}'"):
        _config(f"+data.schema.columns.{GENERATED_EVENT_TIME}={{dtype: float64}}")


def _table(ids: list[int], radius: list[float]) -> pd.DataFrame:
    repo = feature_repo(_config())
    frame = pd.DataFrame({feature.name: 1.0 for feature in repo.features}, index=range(len(ids)))
    return frame.assign(row_id=ids, mean_radius=radius, target=0)


def test_event_times_are_row_order_deterministic_and_drop_the_target(tmp_path: Path) -> None:
    repo = feature_repo(_config())
    table = _table([5, 7, 5], [1.0, 2.0, 3.0])
    events = event_table(table, repo)
    assert list(events.columns) == [
        "row_id",
        *(feature.name for feature in repo.features),
        GENERATED_EVENT_TIME,
    ]
    # A fixed base plus the position in whole seconds: never the epoch (Feast's "unknown").
    assert events[GENERATED_EVENT_TIME].tolist() == [
        EVENT_TIME_BASE,
        EVENT_TIME_BASE + pd.Timedelta(seconds=1),
        EVENT_TIME_BASE + pd.Timedelta(seconds=2),
    ]
    # Duplicated ids: the latest event of id 5, what the online store keeps, is its last row.
    latest = events.sort_values(GENERATED_EVENT_TIME).drop_duplicates("row_id", keep="last")
    assert latest.set_index("row_id")["mean_radius"].to_dict() == {5: 3.0, 7: 2.0}
    # Same input, same bytes (no wall clock in the values).
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    event_table(table, repo).to_parquet(first, index=False)
    event_table(table.copy(), repo).to_parquet(second, index=False)
    assert first.read_bytes() == second.read_bytes()


def test_plan_on_generated_times_is_incremental_only_for_appended_rows() -> None:
    repo = feature_repo(_config())
    loaded = event_table(_table([1, 2], [1.0, 2.0]), repo)
    step = plan(loaded, repo, None, "defs")
    state = {
        "definitions": "defs",
        "watermark": step.end.isoformat(),
        "settled": rows_digest(loaded, repo.timestamp_column, step.end),
    }
    appended = event_table(_table([1, 2, 1], [1.0, 2.0, 9.0]), repo)
    assert plan(appended, repo, state, "defs").mode == "incremental"
    # A row inserted before the end moves every later row's time: a full rebuild.
    inserted = event_table(_table([3, 1, 2], [0.5, 1.0, 2.0]), repo)
    assert plan(inserted, repo, state, "defs").mode == "full"
    changed = event_table(_table([1, 2, 1], [1.5, 2.0, 9.0]), repo)
    assert plan(changed, repo, state, "defs").mode == "full"


# Feast in a subprocess, as in test_materialize (it points prometheus_client at a directory
# later tests' servers would inherit).
ONLINE = """
import json
from pathlib import Path
from reprokit.config.compose import load_config
from reprokit.feature_store.store import online_features

rows = [{"row_id": i} for i in (1, 2, 3, -1)]
print(json.dumps(online_features(load_config(Path.cwd()), Path.cwd(), rows)["mean_radius"]))
"""


@pytest.mark.slow
def test_materialize_without_a_timestamp_serves_each_ids_last_row(project_copy: Path) -> None:
    # Duplicated ids are allowed by this schema; the store must say which row wins.
    compose = ["reprokit", "config", "compose", *NO_TIME, "data.schema.columns.row_id.unique=false"]
    run(compose, project_copy)
    run(["reprokit", "features", "generate"], project_copy)
    run(["reprokit", "dvc", "generate"], project_copy)
    primary = project_copy / "data/02_intermediate/primary.parquet"
    _table([1, 2, 1], [1.0, 2.0, 3.0]).to_parquet(primary, index=False)
    git_init(project_copy)

    def materialize() -> str:
        # Only this stage: upstream ones would overwrite the planted table.
        return run(["dvc", "repro", "--single-item", STAGE], project_copy).stdout

    def online() -> list[float | None]:
        served = run([f"{VENV_BIN}/python", "-c", ONLINE], project_copy).stdout
        return list(json.loads(served))

    assert "materialized (full)" in materialize()
    assert online() == [3.0, 2.0, None, None]
    record = json.loads((project_copy / MATERIALIZED_FILE).read_text())
    assert (record["rows"], record["entities"]) == (3, 2)
    # Appended rows load alone, and a newer row of a known id replaces its value.
    _table([1, 2, 1, 1, 3], [1.0, 2.0, 3.0, 4.0, 5.0]).to_parquet(primary, index=False)
    assert "materialized (incremental)" in materialize()
    assert online() == [4.0, 2.0, 5.0, None]
    # A changed old row reloads everything, so its old value does not stay online.
    _table([1, 2, 1, 1, 3], [1.0, 6.0, 3.0, 4.0, 5.0]).to_parquet(primary, index=False)
    assert "materialized (full)" in materialize()
    assert online() == [4.0, 6.0, 5.0, None]
    assert "is up to date" in run(["reprokit", "dvc", "check"], project_copy).stdout
