"""A request's deadline, shared by the event loop that answers 504 and the worker thread
that does the work, so that a 504 stops the work instead of only replacing its response.

A Python thread cannot be interrupted: cancelling the asyncio task that awaits it leaves the
thread running to the end (anyio waits for it), and the CPU it burns slows every request
after it (a request past its deadline once made the next one time out too). So the work
checks its deadline at each step (before it starts, between validation steps and columns,
between chunks of rows in predict); past it, `DeadlineExceededError` ends the work there. The
deadline is passed, not looked up: the thread code stays free of ASGI.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# The ASGI scope key under which the timeout middleware leaves the request's deadline.
DEADLINE_SCOPE = "reprokit.deadline"
# Rows per predict call when a deadline is being watched: small enough that the work
# stops within a few milliseconds of its deadline, large enough that the extra calls cost
# nothing measurable (a request at or under this size is one call, as before).
PREDICT_CHUNK_ROWS = 4096

Checkpoint = Callable[[str], None]


class DeadlineExceededError(Exception):
    """The request's deadline passed (or it was cancelled) before `stage` could run.
    `before_start`: cancelled before the work's first step, a stop the canceller reports."""

    def __init__(self, stage: str, seconds: float, before_start: bool = False) -> None:
        super().__init__(f"no response within {seconds:g} s (stopped before {stage})")
        self.stage = stage
        self.seconds = seconds
        self.before_start = before_start


class Deadline:
    """`seconds` from now (math.inf: never), or earlier when `cancel()` is called; safe to
    check from any thread.

    It knows whether the work has begun (made its first check): a request cancelled while
    it is still being read or decoded, or waiting for a thread, never starts its work, and
    only the canceller can say so (CI once saw a 504 with no stop logged at all).
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._expires_at = clock() + seconds
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._begun = False

    def cancel(self) -> bool:
        """Stops the work at its next check; True when it had not begun (it never will)."""
        with self._lock:
            self._cancelled.set()
            return not self._begun

    def expired(self) -> bool:
        return self._cancelled.is_set() or self._clock() >= self._expires_at

    def check(self, stage: str) -> None:
        """Raises DeadlineExceededError when the deadline has passed; `stage` is what would
        run next (it says in the log how far the work got)."""
        with self._lock:
            cancelled_before_start = self._cancelled.is_set() and not self._begun
            self._begun = True
        if cancelled_before_start:
            raise DeadlineExceededError(stage, self.seconds, before_start=True)
        if self.expired():
            raise DeadlineExceededError(stage, self.seconds)


NO_DEADLINE = Deadline(math.inf)


def deadline_in(scope: Any) -> Deadline:
    """The deadline the timeout middleware left in `scope` (NO_DEADLINE without one)."""
    found = scope.get(DEADLINE_SCOPE) if isinstance(scope, dict) else None
    return found if isinstance(found, Deadline) else NO_DEADLINE


def predict_in_chunks(
    predict: Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]],
    matrix: np.ndarray[Any, Any],
    checkpoint: Checkpoint,
    chunk_rows: int = PREDICT_CHUNK_ROWS,
) -> np.ndarray[Any, Any]:
    """`predict(matrix)`, in chunks of `chunk_rows` rows with `checkpoint` between them.

    Rows are scored independently (LightGBM and XGBoost alike), so the stacked chunks equal
    one call on the whole matrix, byte for byte.
    """
    checkpoint("predict")
    if len(matrix) <= chunk_rows:
        return predict(matrix)
    parts = []
    for start in range(0, len(matrix), chunk_rows):
        if start:
            checkpoint("predict")
        parts.append(predict(matrix[start : start + chunk_rows]))
    return np.concatenate(parts, axis=0)
