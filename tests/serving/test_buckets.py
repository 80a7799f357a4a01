"""The token buckets' one refill rule, the store the workers share, the server's state
directory, and the worker count setting."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.settings_env import from_env

from reprokit.serving.buckets import (
    STATE_DIR_VARIABLE,
    SharedTokenBuckets,
    TokenBuckets,
    buckets_for,
    remove_stale,
    server_state_directory,
    take_token,
    token_wait,
)
from reprokit.serving.config import SettingsError, cgroup_cpu_limit, usable_cpus, worker_count


def test_take_token_refills_at_the_rate_up_to_the_burst() -> None:
    bucket, wait = take_token(None, now=10.0, rate=2.0, burst=3.0)
    assert (bucket, wait) == ((2.0, 10.0), 0.0)  # an unknown client starts full
    assert take_token((0.5, 10.0), now=10.0, rate=2.0, burst=3.0) == ((0.5, 10.0), 0.25)
    assert take_token((0.5, 10.0), now=10.25, rate=2.0, burst=3.0) == ((0.0, 10.25), 0.0)
    # Idle for long: back to the burst, never above it.
    assert take_token((0.0, 0.0), now=100.0, rate=2.0, burst=3.0) == ((2.0, 100.0), 0.0)
    # A clock that went back refills nothing.
    assert take_token((0.0, 5.0), now=4.0, rate=2.0, burst=3.0)[1] == 0.5
    assert token_wait((0.0, 0.0), now=0.25, rate=2.0, burst=3.0) == 0.25
    assert token_wait(None, now=0.0, rate=2.0, burst=3.0) == 0.0


def test_shared_buckets_follow_the_same_rule_as_the_process_ones(tmp_path: Path) -> None:
    now = [0.0]
    shared = SharedTokenBuckets(
        tmp_path / "b.sqlite", "limit", rate=2.0, burst=3.0, clock=lambda: now[0]
    )
    local = TokenBuckets(rate=2.0, burst=3.0, clock=lambda: now[0])
    seen: list[tuple[float, float]] = []
    for step in (0.0, 0.0, 0.0, 0.0, 0.1, 0.4, 0.4, 2.0):
        now[0] = step
        seen.append((shared.take("k"), local.take("k")))
    assert [s for s, _ in seen] == [lo for _, lo in seen]
    assert shared.wait("k") == local.wait("k")
    assert shared.wait("unknown") == 0.0


def _take_many(path: str, takes: int, results: multiprocessing.Queue[int]) -> None:
    buckets = SharedTokenBuckets(Path(path), "limit", rate=1e-6, burst=25.0)
    results.put(sum(buckets.take("key") == 0.0 for _ in range(takes)))


def test_processes_sharing_the_store_get_exactly_the_burst(tmp_path: Path) -> None:
    path = str(tmp_path / "b.sqlite")
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[int] = context.Queue()
    workers = [context.Process(target=_take_many, args=(path, 40, results)) for _ in range(3)]
    for worker in workers:
        worker.start()
    granted = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert sum(granted) == 25  # 120 takes by 3 processes, one burst between them


def test_refilled_and_least_recent_buckets_are_pruned(tmp_path: Path) -> None:
    now = [0.0]
    shared = SharedTokenBuckets(
        tmp_path / "b.sqlite", "limit", rate=1.0, burst=2.0, clock=lambda: now[0], max_clients=2
    )
    shared.prune_every = 4
    for client in ("a", "b", "c"):
        shared.take(client)
    now[0] = 1.5  # a, b, c at 1.5 tokens: not full yet
    shared.take("d")  # 4th take: prune keeps the 2 most recent (d and one of the others)
    rows = shared._db().execute("SELECT client FROM buckets_limit ORDER BY last").fetchall()
    assert len(rows) == 2 and rows[-1] == ("d",)
    now[0] = 10.0  # everyone refilled: pruned at the next round
    for _ in range(4):
        shared.take("e")
    assert shared._db().execute("SELECT client FROM buckets_limit").fetchall() == [("e",)]


def test_buckets_are_shared_only_with_a_state_directory(tmp_path: Path) -> None:
    assert isinstance(buckets_for("limit", 1.0, 2.0, environ={}), TokenBuckets)
    shared = buckets_for("limit", 1.0, 2.0, environ={STATE_DIR_VARIABLE: str(tmp_path)})
    assert isinstance(shared, SharedTokenBuckets)


def test_state_directory_is_private_and_stale_ones_are_removed(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = tmp_path / f"reprokit-server-{gone.stdout.strip()}-abc"
    stale.mkdir()
    mine = server_state_directory(tmp_path)
    assert stat.S_IMODE(mine.stat().st_mode) == 0o700
    assert mine.name.startswith(f"reprokit-server-{os.getpid()}-")
    assert not stale.exists()
    assert remove_stale(tmp_path) == []  # this process is alive: its directory stays
    assert mine.exists()


def test_worker_setting(tmp_path: Path) -> None:
    assert from_env().workers == "auto"
    assert worker_count(from_env(REPROKIT_WORKERS="AUTO").workers, cpus=lambda: 3) == 3
    assert worker_count(from_env(REPROKIT_WORKERS=" 2 ").workers) == 2
    for bad in ("0", "-1", "1.5", "two"):
        with pytest.raises(
            SettingsError, match=f"REPROKIT_WORKERS='{bad}'.*positive integer or `auto`"
        ):
            from_env(REPROKIT_WORKERS=bad)


def test_usable_cpus_follow_affinity_and_the_cgroup_quota(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    assert cgroup_cpu_limit(cpu_max) is None  # no cgroup v2 file
    cpu_max.write_text("max 100000\n")
    assert cgroup_cpu_limit(cpu_max) is None
    cpu_max.write_text("150000 100000\n")
    assert cgroup_cpu_limit(cpu_max) == 2
    affinity = len(os.sched_getaffinity(0))
    assert usable_cpus(tmp_path / "none") == affinity
    cpu_max.write_text("50000 100000\n")
    assert usable_cpus(cpu_max) == 1
