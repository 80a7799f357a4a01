"""`reprokit runs` and `reprokit diff`: the pure comparisons, then two recorded runs that
differ in one model parameter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support import run
from tests.support.templates import relocated_copy

from reprokit.tracking.compare import (
    ABSENT,
    Change,
    config_changes,
    flatten_config,
    metric_deltas,
    show_value,
)
from reprokit.tracking.runs import RecordedRun
from reprokit.tracking.runs_cli import key_metric_names


def recorded(task: str, metrics: dict[str, float]) -> RecordedRun:
    return RecordedRun("r", "FINISHED", 0, tags={}, metrics=metrics, params={"data.task": task})


def test_flatten_config_keeps_lists_and_empty_mappings_as_leaves() -> None:
    flat = flatten_config({"a": {"b": 1, "c": [1, 2], "d": {}}, "e": None})
    assert flat == {"a.b": 1, "a.c": [1, 2], "a.d": {}, "e": None}


def test_config_changes_tell_null_from_absent() -> None:
    a = {"model": {"num_leaves": 31, "max_depth": -1}, "promotion": {"metric": None}}
    b = {"model": {"num_leaves": 63, "max_depth": -1}, "promotion": {}}
    assert config_changes(a, b) == [
        Change("model.num_leaves", 31, 63),
        Change("promotion", ABSENT, {}),
        Change("promotion.metric", None, ABSENT),
    ]
    assert show_value(None) == "null"
    assert show_value(ABSENT) == "(absent)"
    assert config_changes(a, a) == []


def test_metric_deltas_are_b_minus_a() -> None:
    deltas = {d.name: d for d in metric_deltas({"auc": 0.5, "f1": 0.25}, {"auc": 0.75})}
    assert deltas["auc"].delta == 0.25
    assert deltas["f1"].b is None
    assert deltas["f1"].delta is None


def test_key_metrics_are_the_tasks_metrics_present_in_task_order() -> None:
    runs = [
        recorded("binary", {"log_loss": 0.3, "roc_auc": 0.8, "time.all_s": 2.0}),
        recorded("regression", {"rmse": 1.5}),
    ]
    assert key_metric_names(runs) == ["roc_auc", "log_loss", "rmse"]


# --- two recorded runs -------------------------------------------------------------------------


def last_run_id(root: Path) -> str:
    return str(json.loads((root / ".reprokit/last_run.json").read_text())["run_id"])


@pytest.fixture(scope="module")
def two_runs(
    tmp_path_factory: pytest.TempPathFactory, trained_template: Path
) -> tuple[Path, str, str]:
    root = relocated_copy(trained_template, tmp_path_factory.mktemp("diff-runs") / "project")
    first = last_run_id(root)
    run(["reprokit", "run", "model.num_leaves=15"], root)
    return root, first, last_run_id(root)


def row(output: str, first_cell: str) -> list[str]:
    """The cells of the table row (or header: `┃` between its cells) whose first cell is
    `first_cell`."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃ ").replace("┃", "│").split("│")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in:\n{output}")


@pytest.mark.slow
@pytest.mark.xdist_group("diff-runs")
def test_runs_lists_recent_runs_newest_first(two_runs: tuple[Path, str, str]) -> None:
    root, first, second = two_runs
    out = run(["reprokit", "runs"], root).stdout
    short_first, short_second = first[:8], second[:8]  # ids as the table shows them
    assert out.index(short_second) < out.index(short_first)
    newest = row(out, short_second)
    assert newest[2:4] == ["FINISHED", "reprokit run"]
    assert len(newest[4]) == 8  # the fingerprint, shortened
    header = row(out, "run id")
    assert float(newest[header.index("roc_auc")]) > 0.5  # the binary task's first metric
    # What the run cost (README: What a run costs): CPU and wall seconds, peak MiB.
    cpu, wall = (float(part) for part in newest[header.index("cpu / wall s")].split(" / "))
    assert cpu > 0 and wall > 0
    assert float(newest[header.index("peak MiB")]) > 0
    assert newest[-1].startswith("reprokit-credit v2")
    assert row(out, short_first)[-1].startswith("reprokit-credit v1")
    limited = run(["reprokit", "runs", "--limit", "1"], root).stdout
    assert short_second in limited
    assert short_first not in limited
    # Every command takes the short ids the table shows.
    diffed = run(["reprokit", "diff", short_first, short_second], root).stdout
    assert f"a = {first}" in diffed and f"b = {second}" in diffed


@pytest.mark.slow
@pytest.mark.xdist_group("diff-runs")
def test_diff_shows_the_changed_key_and_metric_deltas(two_runs: tuple[Path, str, str]) -> None:
    root, first, second = two_runs
    out = run(["reprokit", "diff", first, second], root).stdout
    assert row(out, "model.num_leaves") == ["model.num_leaves", "31", "15", "NO"]
    config_rows = out.split("config: keys that differ", 1)[1].split("data (DVC md5", 1)[0]
    assert config_rows.count("│ NO") == 1  # nothing but num_leaves differs
    assert row(out, "raw")[-1] == "yes"
    assert row(out, "code_hash")[-1] == "yes"
    assert row(out, "config_hash")[-1] == "NO"
    auc = row(out, "roc_auc")
    assert float(auc[3]) == pytest.approx(float(auc[2]) - float(auc[1]), abs=1e-5)
    assert auc[3].startswith(("+", "-"))
    assert row(out, "n_test")[1:] == ["2000", "2000", "+0"]


@pytest.mark.slow
@pytest.mark.xdist_group("diff-runs")
def test_diff_of_an_unknown_run_is_a_clear_error(two_runs: tuple[Path, str, str]) -> None:
    root, first, _ = two_runs
    result = run(["reprokit", "diff", first, "f" * 32], root, check=False)
    assert result.returncode == 2
    assert f"error: no run '{'f' * 32}'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_listing_a_project_without_a_store_does_not_create_one(project_copy: Path) -> None:
    store = project_copy / "mlruns.db"
    store.unlink()  # the fixture's migrated copy
    result = run(["reprokit", "runs"], project_copy, check=False)
    assert result.returncode == 2
    assert f"error: no MLflow store at {store.resolve()}" in result.stderr
    assert not project_copy.joinpath("mlruns.db").exists()
