"""Launchers: how a sweep's jobs run, one implementation per `hydra/launcher=` choice, as
Hydra's own launcher plugins are (basic, joblib, and here Dask).

A launcher is given the job specs and `prepare`, the work this process does while the
workers start (the nodes every job shares, computed once); it yields the jobs' results as
they finish and holds its workers (processes, a cluster) until its context exits. A
launcher without workers skips `prepare`: its first job computes the shared nodes and the
others reuse them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from reprokit.sweeps.dask_launcher import DaskLauncher
from reprokit.sweeps.jobs import JobResult, JobSpec, preload, run_job
from reprokit.sweeps.launch_plan import LaunchPlan


class Launcher(Protocol):
    def launch(
        self, specs: Sequence[JobSpec], prepare: Callable[[], None]
    ) -> AbstractContextManager[Iterator[JobResult]]:
        """The jobs' results as they finish, `prepare` done before the first job starts."""
        ...


@dataclass(frozen=True)
class BasicLauncher:
    """`hydra/launcher=basic`: the jobs in this process, one after the other."""

    @classmethod
    def of(cls, plan: LaunchPlan) -> BasicLauncher:
        return cls()

    @contextmanager
    def launch(
        self, specs: Sequence[JobSpec], prepare: Callable[[], None]
    ) -> Iterator[Iterator[JobResult]]:
        yield (run_job(spec) for spec in specs)


def _joblib() -> Any:
    """joblib (Hydra's joblib launcher's library), imported only for parallel sweeps."""
    return importlib.import_module("joblib")


@dataclass(frozen=True)
class JoblibLauncher:
    """`hydra/launcher=joblib`: the jobs in `n_jobs` joblib (loky) worker processes."""

    n_jobs: int

    @classmethod
    def of(cls, plan: LaunchPlan) -> JoblibLauncher:
        return cls(plan.budget.n_jobs)

    @contextmanager
    def launch(
        self, specs: Sequence[JobSpec], prepare: Callable[[], None]
    ) -> Iterator[Iterator[JobResult]]:
        joblib = _joblib()
        # The workers import the heavy libraries (seconds each) while this process runs
        # `prepare`; loky keeps the same workers for the jobs.
        warm = joblib.Parallel(n_jobs=self.n_jobs, backend="loky", return_as="generator")
        warming = warm(joblib.delayed(preload)() for _ in range(self.n_jobs))
        prepare()
        for _ in warming:  # the workers are ready
            pass
        jobs = joblib.Parallel(n_jobs=self.n_jobs, backend="loky", return_as="generator_unordered")
        yield jobs(joblib.delayed(run_job)(spec) for spec in specs)


# The launchers by `hydra/launcher=` name (reprokit.sweeps.expand.LAUNCHERS).
LAUNCHERS: dict[str, Callable[[LaunchPlan], Launcher]] = {
    "basic": BasicLauncher.of,
    "joblib": JoblibLauncher.of,
    "dask": DaskLauncher.of,
}


def launcher_for(plan: LaunchPlan) -> Launcher:
    return LAUNCHERS[plan.launcher](plan)
