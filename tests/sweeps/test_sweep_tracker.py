"""The sweep's MLflow side against a real SQLite store: what cannot change between the jobs
of one process (git state, package versions, environment facts) is computed once per sweep,
and every job's run carries the same."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reprokit.config.compose import workspace_from_conf
from reprokit.core.names import ENV_TAG, GIT_COMMIT_TAG, GIT_DIRTY_TAG, VERSION_TAG
from reprokit.sweeps.jobs import JobResult
from reprokit.sweeps.summary import Ranking
from reprokit.sweeps.track import SweepTracker, log_as_finished
from reprokit.tracking import store

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


def test_jobs_share_one_reading_of_the_environment(
    project_root: Path,
    tmp_path: Path,
    mlflow_db_template: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "mlruns.db"
    shutil.copy(mlflow_db_template, db)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    artifacts = f"tracking.artifact_location={(tmp_path / 'artifacts').as_uri()}"
    base = workspace_from_conf(project_root, [artifacts])
    git_calls: list[tuple[str, ...]] = []
    real_git = store._git

    def counting_git(root: Path, *args: str) -> str:
        git_calls.append(args)
        return real_git(root, *args)

    monkeypatch.setattr(store, "_git", counting_git)
    tracker = SweepTracker(
        base, "sweep-t", ["seed=0,1,2"], "reprokit run -m", Ranking.of(base.config)
    )
    parent = tracker.start()
    jobs = [failed_job(index, base.params) for index in range(3)]
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
