"""The sweep's MLflow side against a real SQLite store: what cannot change between the jobs
of one process (git state, package versions, environment facts) is computed once per sweep,
and every job's run carries the same; the parent run is started on the logging thread while
the first job runs."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reprokit.config.compose import workspace_from_conf
from reprokit.core.names import ENV_TAG, GIT_COMMIT_TAG, GIT_DIRTY_TAG, VERSION_TAG
from reprokit.sweeps.jobs import JobResult
from reprokit.sweeps.summary import Ranking
from reprokit.sweeps.track import SweepLogging, SweepTracker, log_as_finished
from reprokit.tracking import store
from reprokit.tracking.store import TrackingError

ENVIRONMENT_TAGS = (GIT_COMMIT_TAG, GIT_DIRTY_TAG, VERSION_TAG, ENV_TAG)


def failed_job(index: int, params: dict[str, object]) -> JobResult:
    """A job that failed before writing anything: its run needs no file of the project."""
    return JobResult(
        index=index,
        overrides=(f"seed={index}",),
        status="FAILED",
        started_ms=1_000 * index,
        ended_ms=1_000 * index + 500,
        seconds=0.5,
        error="RuntimeError: boom",
        params=params,
    )


def _tracker(
    project_root: Path, tmp_path: Path, db_template: Path, monkeypatch: pytest.MonkeyPatch
) -> SweepTracker:
    db = tmp_path / "mlruns.db"
    shutil.copy(db_template, db)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    artifacts = f"tracking.artifact_location={(tmp_path / 'artifacts').as_uri()}"
    base = workspace_from_conf(project_root, [artifacts])
    return SweepTracker(base, "sweep-t", ["seed=0,1,2"], "reprokit run -m", Ranking.of(base.config))


def test_jobs_share_one_reading_of_the_environment(
    project_root: Path,
    tmp_path: Path,
    mlflow_db_template: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    git_calls: list[tuple[str, ...]] = []
    real_git = store._git

    def counting_git(root: Path, *args: str) -> str:
        git_calls.append(args)
        return real_git(root, *args)

    monkeypatch.setattr(store, "_git", counting_git)
    tracker = _tracker(project_root, tmp_path, mlflow_db_template, monkeypatch)
    parent = tracker.start()
    jobs = [failed_job(index, tracker.base.params) for index in range(3)]
    rows = log_as_finished(iter(jobs), len(jobs), tracker, lambda _line: None)

    assert [row.status for row in rows] == ["FAILED"] * 3
    # One `git rev-parse` and one `git status` for the whole sweep, not two per job.
    assert sorted(git_calls) == sorted(
        [("rev-parse", "HEAD"), ("status", "--porcelain", "--untracked-files=no")]
    )
    runs = [tracker.client.get_run(row.run_id) for row in rows]
    assert all(run.data.tags["mlflow.parentRunId"] == parent for run in runs)
    shared = [
        {k: v for k, v in run.data.tags.items() if k.startswith(ENVIRONMENT_TAGS)} for run in runs
    ]
    assert GIT_COMMIT_TAG in shared[0] and f"{ENV_TAG}hash" in shared[0]
    assert all(tags == shared[0] for tags in shared)


def test_the_parent_run_starts_on_the_logging_thread_and_is_said_first(
    project_root: Path,
    tmp_path: Path,
    mlflow_db_template: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracker = _tracker(project_root, tmp_path, mlflow_db_template, monkeypatch)
    started_on: list[str] = []
    real_start = tracker.start

    def recording_start(existing_parent: str | None = None) -> str:
        started_on.append(threading.current_thread().name)
        return real_start(existing_parent)

    monkeypatch.setattr(tracker, "start", recording_start)
    lines: list[str] = []
    with SweepLogging.begun(tracker, lines.append) as recording:
        rows = recording.log_as_finished(
            iter([failed_job(i, tracker.base.params) for i in range(2)]), 2
        )

    assert len(started_on) == 1 and started_on[0].startswith("sweep-mlflow")
    assert tracker.parent_run_id is not None
    assert lines[0] == f"parent run {tracker.parent_run_id}"
    assert lines[1].startswith("[1/2] job 0 FAILED")
    runs = [tracker.client.get_run(row.run_id) for row in rows]
    assert all(run.data.tags["mlflow.parentRunId"] == tracker.parent_run_id for run in runs)


def test_a_store_that_cannot_start_the_parent_run_stops_the_sweep_after_its_first_job(
    project_root: Path,
    tmp_path: Path,
    mlflow_db_template: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracker = _tracker(project_root, tmp_path, mlflow_db_template, monkeypatch)

    def refused_start(existing_parent: str | None = None) -> str:
        raise TrackingError("MLflow store sqlite:///x cannot be used for experiment 'e'")

    monkeypatch.setattr(tracker, "start", refused_start)
    ran: list[int] = []

    def jobs() -> Iterator[JobResult]:
        for index in range(3):
            ran.append(index)
            yield failed_job(index, tracker.base.params)

    lines: list[str] = []
    with pytest.raises(TrackingError, match="cannot be used for experiment"):
        log_as_finished(jobs(), 3, tracker, lines.append)
    assert ran == [0]  # the store's error, not two more jobs, follows the first job
    assert lines == []  # no job line, no parent run, nothing logged
