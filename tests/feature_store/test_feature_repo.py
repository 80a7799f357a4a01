"""feature_repo/ is generated from conf/ (byte-identical on regeneration), checked like
dvc.yaml (data without a timestamp: test_no_timestamp); the materialize plan loads only
newer rows when the loaded ones are unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from tests.support import PROJECT_ROOT, copy_project, run

from reprokit.config.compose import compose_and_validate, load_config
from reprokit.errors import StaleFileError
from reprokit.feature_store import render
from reprokit.feature_store.spec import DEFINITIONS_FILE, STORE_FILE, feature_repo
from reprokit.feature_store.store import (
    WriteProgress,
    plan,
    reporting_writes,
    rows_digest,
    rows_to_load,
)


def test_committed_repo_is_what_the_config_generates(tmp_path: Path) -> None:
    config = load_config(PROJECT_ROOT)
    render.check(config, PROJECT_ROOT)
    render.write(config, tmp_path)
    for name in (STORE_FILE, DEFINITIONS_FILE):
        assert (tmp_path / name).read_bytes() == (PROJECT_ROOT / name).read_bytes()
    repo = feature_repo(config)
    assert (repo.id_column, repo.group_column, repo.timestamp_column) == (
        "customer_id",
        "branch_id",
        "application_date",
    )
    # Served inputs only: never the label, the key or the event time.
    names = {feature.name for feature in repo.features}
    assert not names & {"default", "customer_id", "application_date"}
    assert repo.service == "reprokit-credit"


def test_stale_repo_fails_the_check_command(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "p")
    definitions = project / DEFINITIONS_FILE
    definitions.write_text(definitions.read_text() + "# hand edit\n")
    result = run(["reprokit", "features", "check"], project, check=False)
    assert result.returncode != 0
    assert "run `reprokit features generate`" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_redis_option_is_the_online_store() -> None:
    _, config = compose_and_validate(
        PROJECT_ROOT, ["feature_store.online_store=redis", "feature_store.redis=127.0.0.1:7000"]
    )
    text = render.render(config)[Path(STORE_FILE)]
    assert "type: redis\n  connection_string: 127.0.0.1:7000\n" in text


def _table(days: list[int], values: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": range(len(days)),
            "application_date": pd.to_datetime("2024-01-01") + pd.to_timedelta(days, unit="D"),
            "income": values,
        }
    )


def test_plan_is_incremental_only_for_appended_newer_rows() -> None:
    repo = feature_repo(load_config(PROJECT_ROOT))
    first = _table([0, 1], [1.0, 2.0])
    step = plan(first, repo, None, "defs")
    assert step.mode == "full"
    assert step.start == datetime(2024, 1, 1, tzinfo=UTC)
    state = {
        "definitions": "defs",
        "watermark": step.end.isoformat(),
        "settled": rows_digest(first, repo.timestamp_column, step.end),
    }
    appended = _table([0, 1, 5], [1.0, 2.0, 3.0])
    incremental = plan(appended, repo, state, "defs")
    assert (incremental.mode, incremental.start) == ("incremental", step.end)
    assert incremental.end > step.end
    # An old row changed: loading only newer rows would leave its old value online.
    assert plan(_table([0, 1, 5], [9.0, 2.0, 3.0]), repo, state, "defs").mode == "full"
    assert plan(appended, repo, state, "other definitions").mode == "full"


def test_rows_to_load_counts_each_ids_newest_row_in_the_window() -> None:
    repo = feature_repo(load_config(PROJECT_ROOT))
    table = _table([0, 1, 5, 6], [1.0, 2.0, 3.0, 4.0])
    table.loc[3, "customer_id"] = 2  # id 2 twice: Feast writes its newest row only
    full = plan(table, repo, None, "defs")
    assert rows_to_load(table, repo, full) == 3
    state = {
        "definitions": "defs",
        "watermark": plan(table.head(2), repo, None, "defs").end.isoformat(),
        "settled": rows_digest(table.head(2), repo.timestamp_column, full.end),
    }
    incremental = plan(table, repo, state, "defs")
    assert incremental.mode == "incremental"
    assert rows_to_load(table, repo, incremental) == 1  # days 5 and 6, both id 2


def test_write_progress_reports_each_batch_with_the_time_left() -> None:
    ticks = iter([0.0, 10.0, 30.0])
    lines: list[tuple[int, int, float, float]] = []
    progress = WriteProgress(400, lambda *line: lines.append(line), clock=lambda: next(ticks))
    progress.advance(100)
    progress.advance(300)
    assert lines == [(100, 400, 10.0, 30.0), (400, 400, 30.0, 0.0)]


class _Online:
    def __init__(self) -> None:
        self.batches: list[int] = []

    def online_write_batch(
        self, config: object, table: object, data: list, progress: object
    ) -> None:
        self.batches.append(len(data))


class _Provider:
    def __init__(self) -> None:
        self.online_store = _Online()


class _Store:
    def __init__(self) -> None:
        self.provider = _Provider()


def test_reporting_writes_counts_what_the_online_store_writes_then_unwraps() -> None:
    store = _Store()
    lines: list[tuple[int, int, float, float]] = []
    with reporting_writes(store, WriteProgress(5, lambda *line: lines.append(line))):
        online = store.provider.online_store
        online.online_write_batch(config=None, table=None, data=[1, 2, 3], progress=None)
        online.online_write_batch(None, None, [4, 5], None)
    assert online.batches == [3, 2]
    assert [line[:2] for line in lines] == [(3, 5), (5, 5)]
    online.online_write_batch(None, None, [6], None)
    assert len(lines) == 2  # the class's own method again
    with reporting_writes(object(), WriteProgress(1, lambda *line: lines.append(line))):
        pass  # a store without an online store to wrap loads without lines


def test_hand_edited_store_file_is_stale(tmp_path: Path) -> None:
    config = load_config(PROJECT_ROOT)
    render.write(config, tmp_path)
    (tmp_path / STORE_FILE).write_text("project: mine\n")
    with pytest.raises(StaleFileError, match=r"feature_store\.yaml"):
        render.check(config, tmp_path)


def test_feast_reads_the_online_write_batch_size(tmp_path: Path) -> None:
    """Feast's RepoConfig ignores a key it does not know: the batch size must be one it reads."""
    from feast.repo_config import load_repo_config

    _, config = compose_and_validate(PROJECT_ROOT)
    store_file = tmp_path / "feature_store.yaml"
    store_file.write_text(render.render(config)[Path(STORE_FILE)], encoding="utf-8")
    loaded = load_repo_config(tmp_path, store_file)
    batch_rows = loaded.materialization_config.online_write_batch_size
    assert batch_rows == render.ONLINE_WRITE_BATCH_ROWS
