"""The launch planner, a pure function of the expanded sweep, the configured threads and
the cores: which launcher runs the jobs, the thread budget, what it adds to every job."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprokit.sweeps.expand import LAUNCHERS, SweepPlan
from reprokit.sweeps.launch_plan import (
    Budget,
    LaunchPlan,
    job_specs,
    plan_launch,
    runs_as_configured,
)
from reprokit.sweeps.launchers import LAUNCHERS as IMPLEMENTED
from reprokit.sweeps.launchers import BasicLauncher, JoblibLauncher, launcher_for

THREE_JOBS = [["seed=1"], ["seed=2"], ["seed=3"]]


@pytest.mark.parametrize(
    ("sweep", "configured", "expected"),
    [
        (
            SweepPlan(THREE_JOBS),
            0,
            LaunchPlan("basic", Budget(1, 8), (), "sequential"),
        ),
        (
            SweepPlan(THREE_JOBS, "joblib", n_jobs=2),
            0,
            LaunchPlan(
                "joblib", Budget(2, 4), ("engine.num_threads=4",), "2 in parallel x 4 threads"
            ),
        ),
        (  # no n_jobs: one worker per core, never more than the jobs
            SweepPlan(THREE_JOBS, "joblib"),
            2,
            LaunchPlan(
                "joblib", Budget(3, 2), ("engine.num_threads=2",), "3 in parallel x 2 threads"
            ),
        ),
        (  # one job: no worker process, the budget's threads all to it
            SweepPlan([["seed=1"]], "joblib", n_jobs=4),
            0,
            LaunchPlan(
                "basic", Budget(1, 8), ("engine.num_threads=8",), "1 in parallel x 8 threads"
            ),
        ),
        (
            SweepPlan(THREE_JOBS, "dask", n_jobs=2),
            1,
            LaunchPlan(
                "dask",
                Budget(2, 1),
                ("engine.num_threads=1",),
                "2 in parallel x 1 threads on a local Dask cluster",
            ),
        ),
        (  # a remote cluster's workers have their own cores: nothing added to the jobs
            SweepPlan(THREE_JOBS, "dask", address="tcp://scheduler:8786"),
            3,
            LaunchPlan(
                "dask",
                Budget(3, 2),
                (),
                "on the Dask cluster at tcp://scheduler:8786 (engine.num_threads as configured)",
                "tcp://scheduler:8786",
            ),
        ),
    ],
)
def test_the_plan_names_the_launcher_and_keeps_workers_x_threads_within_the_cores(
    sweep: SweepPlan, configured: int, expected: LaunchPlan
) -> None:
    assert plan_launch(sweep, configured, cores=8) == expected


def test_jobs_in_workers_get_the_budget_and_set_up_their_own_logging(tmp_path: Path) -> None:
    parallel = plan_launch(SweepPlan(THREE_JOBS, "joblib", n_jobs=3), 0, cores=6)
    specs = job_specs(parallel, tmp_path, tmp_path / "sweep", THREE_JOBS, ["__default__"])
    assert [(s.index, s.overrides, s.job_dir.name) for s in specs] == [
        (0, ("seed=1",), "job-0"),
        (1, ("seed=2",), "job-1"),
        (2, ("seed=3",), "job-2"),
    ]
    assert all(s.extra == ("engine.num_threads=2",) and s.in_worker for s in specs)
    assert isinstance(launcher_for(parallel), JoblibLauncher)
    sequential = plan_launch(SweepPlan(THREE_JOBS), 0, cores=6)
    specs = job_specs(sequential, tmp_path, tmp_path / "sweep", THREE_JOBS, ["__default__"])
    assert not any(s.in_worker or s.extra for s in specs)
    assert isinstance(launcher_for(sequential), BasicLauncher)


def test_every_launcher_a_sweep_accepts_is_implemented() -> None:
    assert set(IMPLEMENTED) == set(LAUNCHERS)


@pytest.mark.parametrize(
    ("sweep", "configured", "composed_once"),
    [
        (SweepPlan(THREE_JOBS), 0, True),  # sequential: nothing added to the jobs
        (SweepPlan(THREE_JOBS, "joblib", n_jobs=2), 0, False),  # 0 (all cores) -> 4 threads
        (SweepPlan(THREE_JOBS, "joblib", n_jobs=2), 4, True),  # already the budget's 4
        (SweepPlan(THREE_JOBS, "joblib", n_jobs=2), 8, False),  # 8 cut to the budget's 4
        (SweepPlan(THREE_JOBS, "dask", address="tcp://scheduler:8786"), 3, True),
    ],
)
def test_the_first_job_is_composed_again_only_when_the_budget_changes_it(
    sweep: SweepPlan, configured: int, composed_once: bool
) -> None:
    assert runs_as_configured(plan_launch(sweep, configured, cores=8), configured) is composed_once
