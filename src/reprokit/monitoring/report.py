"""The files of one `reprokit monitor` check, each written atomically: Evidently's report
(`-report.html`, self-contained, and its snapshot as `-report.json`) and reprokit's summary
of the verdict (`-summary.json`: status, drifted columns, failed tests, the reference)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprokit.datasets import atomic_path

if TYPE_CHECKING:
    from reprokit.monitoring.evidently_report import Verdict
    from reprokit.monitoring.reference import Reference

REPORT_DIR = "data/08_reporting/monitoring"


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    json: Path
    summary: Path

    def __iter__(self) -> Iterator[Path]:
        return iter((self.html, self.json, self.summary))


def report_paths(directory: Path, created: str) -> ReportPaths:
    """`<directory>/<YYYYMMDD-HHMMSS>-{report.html,report.json,summary.json}` from the check's
    time (UTC)."""
    stamp = created.replace("-", "").replace(":", "").replace("T", "-")[:15]
    # Two checks within one second must not overwrite each other's report.
    for suffix in ["", *(f"-{n}" for n in range(2, 100))]:
        base = f"{stamp}{suffix}"
        paths = ReportPaths(
            html=directory / f"{base}-report.html",
            json=directory / f"{base}-report.json",
            summary=directory / f"{base}-summary.json",
        )
        if not any(path.exists() for path in paths):
            return paths
    return paths


def summary(
    result: Verdict, reference: Reference, *, created: str, rows: int, scored_by: str
) -> dict[str, Any]:
    """reprokit's summary of the check (what a scheduler reads)."""
    profile = reference.profile
    return {
        "status": result.status,
        "alarms": result.failed,
        "tests": result.tests,
        "created": created,
        "rows": rows,
        "drifted": result.drifted,
        "columns": [asdict(column) for column in result.columns],
        "reference": {
            **reference.describe(),
            "title": reference.title(),
            "task": profile.task,
            "model_sha256": profile.model_sha256,
            "sample_rows": len(reference.sample),
        },
        "scored_by": scored_by,
    }


def write_report(paths: ReportPaths, snapshot: Any, document: dict[str, Any]) -> ReportPaths:
    """Write Evidently's HTML and JSON and the summary (`snapshot`: an Evidently snapshot)."""
    with atomic_path(paths.json) as tmp:
        tmp.write_text(snapshot.json() + "\n", encoding="utf-8")
    with atomic_path(paths.html) as tmp:
        snapshot.save_html(str(tmp))
    with atomic_path(paths.summary) as tmp:
        tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return paths
