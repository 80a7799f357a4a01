"""Training progress lines: every twentieth of the planned iterations and the last, with
the time left at the pace so far."""

from __future__ import annotations

from itertools import count

from reprokit.models.base import IterationScore
from reprokit.models.progress import Progress, ProgressObserver, reporting_period


def test_the_period_gives_twenty_lines_or_one_per_iteration() -> None:
    assert reporting_period(500) == 25
    assert reporting_period(7) == 1
    assert reporting_period(1001) == 51  # never more than twenty lines


def test_lines_come_at_each_period_and_the_last_iteration_with_the_time_left() -> None:
    seen: list[Progress] = []
    ticks = count()  # one second per iteration
    observer = ProgressObserver(total=50, report=seen.append, clock=lambda: float(next(ticks)))
    for iteration in range(50):
        observer(IterationScore(iteration, "binary_logloss", 1.0 / (iteration + 1), False))
    assert [line.iteration for line in seen] == [
        3,
        6,
        9,
        12,
        15,
        18,
        21,
        24,
        27,
        30,
        33,
        36,
        39,
        42,
        45,
        48,
        50,
    ]
    third = seen[0]
    assert third.elapsed_s == 2.0 and third.eta_s == 2.0 / 3 * 47
    assert seen[-1].eta_s == 0.0 and seen[-1].value == 1.0 / 50
