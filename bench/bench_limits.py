"""The cost of one rate-limit take: the in-process token buckets (one worker) vs the store
the workers of one server share (several workers: SQLite in WAL mode, `BEGIN IMMEDIATE`, on
tmpfs; reprokit.serving.buckets), measured in the same run.

Prints microseconds per take (p50, p99, max over every take of the repeats, and the share
of takes over 1 ms) and the ratios shared / in-process for:
one process taking alone, and `--processes` processes taking at once from one store (the
contended case: each take waits for the others' write lock). The takes use `--clients`
keys round robin and a rate high enough that every take gets a token, as a key under its
limit does.

    python bench/bench_limits.py [--takes 20000] [--repeats 5] [--processes 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from reprokit.serving.buckets import (
    Buckets,
    SharedTokenBuckets,
    TokenBuckets,
    server_state_directory,
    state_base,
)

RATE, BURST = 1e9, 1e9  # every take gets a token: the cost of the bookkeeping alone


def per_take_us(buckets: Buckets, takes: int, clients: int) -> list[float]:
    """Each take's microseconds."""
    keys = [f"key-{index}" for index in range(clients)]
    clock, times = time.perf_counter, []
    for index in range(takes):
        started = clock()
        buckets.take(keys[index % clients])
        times.append((clock() - started) * 1e6)
    return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _shared(path: Path) -> SharedTokenBuckets:
    return SharedTokenBuckets(path, "bench", rate=RATE, burst=BURST)


def _worker(path: str, takes: int, clients: int, start: Callable[[], None], out: object) -> None:
    buckets = _shared(Path(path))
    buckets.take("warm-up")  # the connection opens outside the timing
    start()
    out.put(per_take_us(buckets, takes, clients))  # type: ignore[attr-defined]


def contended_us(path: Path, takes: int, clients: int, processes: int) -> list[float]:
    """Each take's microseconds, `processes` processes taking at once from one store."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(str(path), takes, clients, barrier.wait, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    times = [value for _ in workers for value in results.get(timeout=600)]
    for worker in workers:
        worker.join(timeout=60)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    directory = server_state_directory()
    try:
        path = directory / "buckets.sqlite"
        local: list[float] = []
        alone: list[float] = []
        contended: list[float] = []
        shared = _shared(path)
        shared.take("warm-up")
        for _ in range(args.repeats):
            local += per_take_us(TokenBuckets(RATE, BURST), args.takes, args.clients)
            alone += per_take_us(shared, args.takes, args.clients)
            contended += contended_us(path, args.takes, args.clients, args.processes)
        shared.close()
    finally:
        shutil.rmtree(directory)
    base = statistics.median(local)
    base_p99 = percentile(local, 0.99)
    print(f"state directory on {state_base()} ({tempfile.gettempdir()} without /dev/shm)")
    print(f"load average {os.getloadavg()[0]:.2f}, python {sys.version.split()[0]}")
    columns = ("p50 us", "ratio", "p99 us", "ratio", "max us", "> 1 ms")
    print(f"{'buckets':<36} " + " ".join(f"{name:>8}" for name in columns))
    rows = [
        ("in-process (one worker)", local),
        ("shared, one process", alone),
        (f"shared, {args.processes} processes at once", contended),
    ]
    for label, times in rows:
        p50, p99 = statistics.median(times), percentile(times, 0.99)
        print(
            f"{label:<36} {p50:>8.1f} {p50 / base:>6.1f}x {p99:>8.1f} {p99 / base_p99:>6.1f}x"
            f" {max(times):>8.0f} {sum(t > 1000 for t in times) / len(times):>7.2%}"
        )


if __name__ == "__main__":
    main()
