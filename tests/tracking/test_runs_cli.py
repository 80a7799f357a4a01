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
