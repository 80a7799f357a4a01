"""The sweep summary: one row per job, best first, as CSV, markdown and a rich table.

Jobs are ranked by the metric of the model promotion rule (`tracking.promotion`; by default
the task's primary metric: ROC AUC up, multi-class log loss down, RMSE down), so a sweep's
best job is the one the registry would prefer.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from reprokit.config.models import ReprokitConfig

MAX_TABLE_METRICS = 4  # besides the ranking metric; the CSV has every metric
# A job's status as it ran (FAILED) or as MLflow keeps it; PRUNED/KILLED are not failures.
FAILED_STATES = frozenset({"FAILED"})


@dataclass(frozen=True)
class Ranking:
    metric: str
    direction: str  # maximize or minimize

    @classmethod
    def of(cls, config: ReprokitConfig) -> Ranking:
        metric, direction = config.tracking.promotion.resolved(config.data.task)
        return cls(metric, direction)


@dataclass
class Row:
    job: int
    status: str
    overrides: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float | None = None
    run_id: str | None = None
    error: str | None = None
    reused: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Pruned tune trials (KILLED in MLflow) are stopped on purpose, not failures."""
        return self.status in FAILED_STATES

    def value(self, ranking: Ranking) -> float | None:
        value = self.metrics.get(ranking.metric)
        return None if value is None or math.isnan(value) else value


def ordered(rows: Iterable[Row], ranking: Ranking) -> list[Row]:
    """Best first: finished jobs by the ranking metric, then finished jobs without it, then
    failed jobs; ties keep job order."""
    sign = -1.0 if ranking.direction == "maximize" else 1.0

    def sort_key(row: Row) -> tuple[int, float, int]:
        value = row.value(ranking)
        if row.status != "FINISHED":
            return (2, 0.0, row.job)
        if value is None:
            return (1, 0.0, row.job)
        return (0, sign * value, row.job)

    return sorted(rows, key=sort_key)


def best(rows: Iterable[Row], ranking: Ranking) -> Row | None:
    first = next(iter(ordered(rows, ranking)), None)
    if first is None or first.status != "FINISHED" or first.value(ranking) is None:
        return None
    return first


def metric_names(rows: Sequence[Row], ranking: Ranking) -> list[str]:
    others = sorted({name for row in rows for name in row.metrics} - {ranking.metric})
    return [ranking.metric, *others]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def table_rows(rows: Sequence[Row], ranking: Ranking, metrics: Sequence[str]) -> list[list[str]]:
    return [
        [
            str(row.job),
            row.status,
            " ".join(row.overrides),
            *[_cell(row.metrics.get(name)) for name in metrics],
            _cell(row.seconds),
            str(len(row.reused)),
            row.run_id or "",
            (row.error or "").splitlines()[0][:200] if row.error else "",
        ]
        for row in ordered(rows, ranking)
    ]


def header(metrics: Sequence[str]) -> list[str]:
    return ["job", "status", "overrides", *metrics, "seconds", "reused nodes", "run id", "error"]


def to_csv(rows: Sequence[Row], ranking: Ranking) -> str:
    metrics = metric_names(rows, ranking)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header(metrics))
    writer.writerows(table_rows(rows, ranking, metrics))
    return buffer.getvalue()


def to_markdown(rows: Sequence[Row], ranking: Ranking, title: str) -> str:
    metrics = metric_names(rows, ranking)
    lines = [
        f"# {title}",
        "",
        f"Ranked by `{ranking.metric}` ({ranking.direction}), best first.",
        "",
        "| " + " | ".join(header(metrics)) + " |",
        "|" + "---|" * len(header(metrics)),
    ]
    for cells in table_rows(rows, ranking, metrics):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def render(rows: Sequence[Row], ranking: Ranking, out: Console, title: str) -> None:
    from rich.table import Table

    metrics = metric_names(rows, ranking)[: 1 + MAX_TABLE_METRICS]
    table = Table(title=f"{title} (ranked by {ranking.metric}, {ranking.direction})")
    for name in header(metrics):
        table.add_column(name, overflow="fold")
    for cells in table_rows(rows, ranking, metrics):
        style = "red" if cells[1] in FAILED_STATES else None
        table.add_row(*cells, style=style)
    out.print(table)
    failed = sorted((row for row in rows if row.failed), key=lambda row: row.job)
    chosen = best(rows, ranking)
    if chosen is not None:
        out.print(
            f"best: job {chosen.job} ({' '.join(chosen.overrides) or 'no overrides'}) "
            f"{ranking.metric}={_cell(chosen.value(ranking))}"
        )
    if failed:
        out.print(f"{len(failed)} of {len(rows)} jobs FAILED: {[row.job for row in failed]}")
