"""Training progress: a line every twentieth of the planned iterations with the validation
metric and an estimate of the time left, through the learner-neutral observer seam.

The estimate assumes every planned iteration runs; early stopping may end training sooner.
Logging only: nothing here reaches the model, its history or the run's identity.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reprokit.models.base import IterationScore

LINES_PER_TRAINING = 20


@dataclass(frozen=True)
class Progress:
    iteration: int  # 1-based: iterations done
    total: int
    metric: str
    value: float
    elapsed_s: float

    @property
    def eta_s(self) -> float:
        """Seconds left at the pace so far, if all `total` iterations run."""
        return self.elapsed_s / self.iteration * (self.total - self.iteration)


def reporting_period(total: int, lines: int = LINES_PER_TRAINING) -> int:
    """Every how many iterations a line is written: `lines` lines over `total` iterations."""
    return max(1, -(-total // lines))


@dataclass
class ProgressObserver:
    """Calls `report` at every `period`-th iteration and at the last planned one."""

    total: int
    report: Callable[[Progress], None]
    clock: Callable[[], float] = time.monotonic
    _started: float | None = field(default=None, init=False)

    def __call__(self, score: IterationScore) -> None:
        now = self.clock()
        if self._started is None:
            self._started = now
        done = score.iteration + 1
        if done % reporting_period(self.total) and done != self.total:
            return
        elapsed = now - self._started
        self.report(Progress(done, self.total, score.metric, score.value, elapsed))


def log_progress() -> Callable[[Progress], None]:
    """Reports as `train.progress` events of reprokit's structured log (console or JSON).
    structlog itself, not `reprokit.logs`, which imports Kedro: nodes and models don't."""
    import structlog

    log = structlog.stdlib.get_logger(__name__)

    def report(progress: Progress) -> None:
        log.info(
            "train.progress",
            iteration=f"{progress.iteration}/{progress.total}",
            **{f"valid_{progress.metric}": round(progress.value, 6)},
            elapsed_s=round(progress.elapsed_s, 1),
            eta_s=round(progress.eta_s, 1),
        )

    return report


def log_trained(history: Mapping[str, Any]) -> None:
    """One line when training ends: how many iterations ran and which one was kept."""
    import structlog

    structlog.stdlib.get_logger(__name__).info(
        "train.done",
        iterations=history.get("iterations_trained"),
        best_iteration=history.get("best_iteration"),
        early_stopped=history.get("early_stopping"),
    )
