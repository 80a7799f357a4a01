"""The tables of `reprokit diff`, rendered from plain data (no store): what differs is
marked, a key one run lacks shows as absent, metric deltas are b - a and signed."""

from __future__ import annotations

from rich.console import Console

from reprokit.core.names import TAG_PREFIX
from reprokit.tracking.compare import diff_of
from reprokit.tracking.runs import RecordedRun
from reprokit.tracking.runs_cli import render_diff


def _run(run_id: str, leaves: int, auc: float, extra_tags: dict[str, str]) -> RecordedRun:
    tags = {f"{TAG_PREFIX}fingerprint": f"fp-{leaves}", f"{TAG_PREFIX}md5.raw": "md5-raw"}
    return RecordedRun(
        run_id, "FINISHED", 0, {**tags, **extra_tags}, {"roc_auc": auc, "time.run_s": 1.0}, {}
    )


def test_diff_tables_mark_what_differs_and_sign_the_deltas() -> None:
    a = _run("a" * 32, 31, 0.75, {})
    b = _run("b" * 32, 15, 0.70, {f"{TAG_PREFIX}code_hash": "c1"})
    diff = diff_of(a, b, {"model": {"num_leaves": 31}}, {"model": {"num_leaves": 15}})
    out = Console(record=True, width=200)
    render_diff(diff, out)
    text = out.export_text()
    rows = {
        cells[0]: cells[1:]
        for line in text.splitlines()
        if (cells := [cell.strip() for cell in line.split("│")[1:-1]])
    }
    assert rows["model.num_leaves"] == ["31", "15", "NO"]
    assert rows["raw"] == ["md5-raw", "md5-raw", "yes"]
    assert rows["code_hash"] == ["(absent)", "c1", "NO"]
    assert rows["roc_auc"] == ["0.75", "0.7", "-0.05"]
    assert "time.run_s" not in text  # durations are never part of a result


def test_runs_show_what_each_run_cost() -> None:
    from reprokit.core.cost import StageCost, cost_metrics
    from reprokit.tracking.runs import RecordedRun, RunsListing
    from reprokit.tracking.runs_cli import render_runs

    costs = cost_metrics({"train": StageCost(wall_s=12.34, cpu_s=20.06, peak_rss_mb=901.4)})
    tags = {f"{TAG_PREFIX}fingerprint": "fp", f"{TAG_PREFIX}project": "p"}
    runs = [
        RecordedRun("c" * 32, "FINISHED", 0, tags, {"roc_auc": 0.8, **costs}, {}),
        RecordedRun("d" * 32, "FINISHED", 0, tags, {"roc_auc": 0.7}, {}),  # an older run
    ]
    out = Console(record=True, width=200)
    render_runs(RunsListing("e", "sqlite:///x.db", runs, {}), out)
    rows = [
        cells
        for line in out.export_text().replace("┃", "│").splitlines()
        if (cells := [cell.strip() for cell in line.split("│")[1:-1]])
    ]
    header, newer, older = rows
    at = header.index("cpu / wall s")
    assert header[at + 1] == "peak MiB"
    assert newer[at : at + 2] == ["20.1 / 12.3", "901"]
    assert older[at : at + 2] == ["-", "-"]
