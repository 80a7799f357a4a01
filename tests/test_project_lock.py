"""The project lock: a second writer waits, naming the holder, then gives up; a dead holder's
lock is taken over; a DVC reproduction in progress (its real lock files) holds writers off
but not its own stages; a writer's claim stops DVC's stages, in DVC's own words."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from reprokit.input_guard import InputsChangedError, snapshot, verify_unchanged
from reprokit.project_lock import (
    GRACE_SECONDS,
    ProjectLock,
    ProjectLockedError,
    dvc_stage_of,
    lock_timeout,
)

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from reprokit.project_lock import ProjectLock
    with ProjectLock(Path(sys.argv[1]), "reprokit run -p train model.num_leaves=63"):
        print("held", flush=True)
        time.sleep(600)
    """
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the project lock of `tmp_path` (as `reprokit run` would)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "held\n"
    yield process
    process.kill()
    process.wait()


def test_a_second_writer_waits_naming_the_holder_then_fails(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    started = time.monotonic()
    with capture_logs() as logs, pytest.raises(ProjectLockedError) as failed:
        ProjectLock(tmp_path, "reprokit package", timeout=3).acquire()
    assert time.monotonic() - started >= 3
    message = str(failed.value)
    assert f"pid {holder.pid}" in message
    assert "`reprokit run -p train model.num_leaves=63`, since 20" in message
    assert "REPROKIT_LOCK_TIMEOUT" in message
    waiting = [line for line in logs if line["event"] == "lock.waiting"]
    assert len(waiting) == 1  # said once, not once per poll
    assert f"pid {holder.pid}" in waiting[0]["message"]


def test_the_lock_is_free_again_once_released(tmp_path: Path) -> None:
    with ProjectLock(tmp_path, "first"):
        pass
    with ProjectLock(tmp_path, "second", timeout=0):
        assert "second" in (tmp_path / ".reprokit/lock").read_text()
    assert (tmp_path / ".reprokit/lock").read_text() == ""


def test_the_lock_of_a_killed_holder_is_taken_over(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    started = time.monotonic()
    with capture_logs() as logs, ProjectLock(tmp_path, "reprokit run", timeout=0):
        assert time.monotonic() - started < 1
    stale = [line for line in logs if line["event"] == "lock.stale_taken_over"]
    assert len(stale) == 1 and f"pid {holder.pid}" in stale[0]["was"]


def test_fail_at_once_still_allows_a_short_grace(tmp_path: Path) -> None:
    with ProjectLock(tmp_path, "holder"):
        started = time.monotonic()
        with pytest.raises(ProjectLockedError):
            ProjectLock(tmp_path, "second", timeout=0).acquire()
        assert GRACE_SECONDS <= time.monotonic() - started < GRACE_SECONDS + 1


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_a_bad_timeout_names_the_variable(value: str) -> None:
    with pytest.raises(Exception, match="REPROKIT_LOCK_TIMEOUT"):
        lock_timeout({"REPROKIT_LOCK_TIMEOUT": value})


def test_timeout_default_and_forever() -> None:
    assert lock_timeout({}) == 600
    assert lock_timeout({"REPROKIT_LOCK_TIMEOUT": "inf"}) == float("inf")


def test_dvc_between_two_stages_holds_writers_but_not_its_stages(tmp_path: Path) -> None:
    """While `dvc repro` holds its repository lock (between stages), a writer waits naming
    DVC; a stage command DVC runs takes the project lock all the same."""
    from dvc.lock import make_lock

    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    repo_lock = make_lock(str(tmp_path / ".dvc" / "tmp" / "lock"))
    repo_lock.lock()
    try:
        with pytest.raises(ProjectLockedError, match=rf"DVC is running .*pid {os.getpid()}"):
            ProjectLock(tmp_path, "reprokit run", timeout=0).acquire()
        with ProjectLock(tmp_path, "reprokit stage train", dvc_stage="train", timeout=0):
            pass
    finally:
        repo_lock.unlock()


def test_a_writer_claims_the_project_in_dvcs_rwlock(tmp_path: Path) -> None:
    """DVC's own rwlock check (what `dvc repro` runs before any stage) refuses the stage,
    naming the writer; a DVC stage running blocks the writer likewise."""
    from dvc.fs import localfs
    from dvc.lock import LockError
    from dvc.rwlock import rwlock

    tmp_dir = tmp_path / ".dvc" / "tmp"
    tmp_dir.mkdir(parents=True)
    model = str(tmp_path / "data" / "06_models" / "model.txt")
    blocked = r"blocked by:\n.*reprokit run -p train"
    with (
        ProjectLock(tmp_path, "reprokit run -p train", timeout=0),
        pytest.raises(LockError, match=blocked),
        rwlock(str(tmp_dir), localfs, "dvc repro", [], [model], False),
    ):
        pass
    # While a stage runs, DVC holds only the rwlock (its repository lock is released).
    running = rf"DVC is running a stage in this project: pid {os.getpid()} \(`dvc repro -f`\)"
    with (
        rwlock(str(tmp_dir), localfs, "dvc repro -f", [], [model], False),
        pytest.raises(ProjectLockedError, match=running),
    ):
        ProjectLock(tmp_path, "reprokit run", timeout=0).acquire()


def test_changed_inputs_are_named(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    before = snapshot(tmp_path, ["data.csv", "absent.csv"])
    verify_unchanged(tmp_path, before, "stage 'train'")
    data.write_text("a\n2\n")
    with pytest.raises(InputsChangedError, match=r"stage 'train'.*data\.csv \(md5 .* -> "):
        verify_unchanged(tmp_path, before, "stage 'train'")


def test_a_stage_of_a_queued_experiment_runs_as_a_dvc_stage(tmp_path: Path) -> None:
    """`dvc exp run --queue` runs stages in a copy under .dvc/tmp/exps, DVC_ROOT naming the
    real repository: they are DVC's stages (the copy's DVC lock is held all the while)."""
    copy = tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc"
    copy.mkdir(parents=True)
    env = {"DVC_STAGE": "train", "DVC_ROOT": str(tmp_path)}
    assert dvc_stage_of(copy, env) == "train"
    assert dvc_stage_of(tmp_path, env) == "train"
    assert dvc_stage_of(tmp_path / "elsewhere", env) is None
    assert dvc_stage_of(copy, {"DVC_ROOT": str(tmp_path)}) is None
