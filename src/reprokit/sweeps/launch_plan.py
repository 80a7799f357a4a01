"""How a sweep's jobs run, decided before anything runs: pure functions of the expanded
sweep, the configs and the cores (no process, cluster or store is touched here).

- `plan_launch`: the launcher, the thread budget (workers x LightGBM threads <= cores) and
  the overrides it adds to every job;
- `shared_nodes`: the nodes every job shares, computed once before parallel jobs start;
- `job_specs`: what each job's worker is given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reprokit.config.compose import Workspace, diff_keys
from reprokit.sweeps.expand import PARALLEL_LAUNCHERS, SweepPlan
from reprokit.sweeps.jobs import JobSpec

THREADS_KEY = "engine.num_threads"
# The launcher that runs every job in this process, one after the other.
SEQUENTIAL = "basic"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), not the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Budget:
    n_jobs: int
    threads: int  # LightGBM threads per job; n_jobs * threads <= cores


def thread_budget(requested: int | None, jobs: int, configured: int, cores: int) -> Budget:
    """Workers and threads per worker such that workers x threads never exceeds the cores:
    more workers than cores would only make LightGBM's threads fight for them."""
    n_jobs = max(1, min(requested or cores, cores, jobs))
    per_job = max(1, cores // n_jobs)
    threads = per_job if configured == 0 else min(configured, per_job)
    return Budget(n_jobs, threads)


@dataclass(frozen=True)
class LaunchPlan:
    """The launcher that runs the jobs, within which budget, said how."""

    launcher: str  # basic (in this process), joblib (worker processes) or dask (a cluster)
    budget: Budget
    extra: tuple[str, ...]  # overrides the sweep adds to every job (the thread budget)
    how: str  # for the user: "sequential", "2 in parallel x 4 threads", ...
    address: str | None = None  # dask: the scheduler the jobs go to; None: a local cluster

    @property
    def in_workers(self) -> bool:
        """Jobs run in other processes than this one (which then logs their runs)."""
        return self.launcher != SEQUENTIAL


def plan_launch(sweep: SweepPlan, configured_threads: int, cores: int) -> LaunchPlan:
    """The launch of `sweep` on `cores` cores, jobs configured with `configured_threads`
    LightGBM threads (0: as many as the budget allows)."""
    parallel = sweep.launcher in PARALLEL_LAUNCHERS
    budget = thread_budget(
        sweep.n_jobs if parallel else 1, len(sweep.jobs), configured_threads, cores
    )
    if sweep.launcher == "dask" and sweep.address is not None:
        # A remote cluster's workers have their own cores: jobs keep the configured threads.
        how = f"on the Dask cluster at {sweep.address} ({THREADS_KEY} as configured)"
        return LaunchPlan("dask", budget, (), how, sweep.address)
    if not parallel:
        return LaunchPlan(SEQUENTIAL, budget, (), "sequential")
    how = f"{budget.n_jobs} in parallel x {budget.threads} threads"
    if sweep.launcher == "dask":
        how += " on a local Dask cluster"
    # One joblib worker would only add a process: the jobs run here, one after the other.
    single = sweep.launcher == "joblib" and budget.n_jobs == 1
    launcher = SEQUENTIAL if single else sweep.launcher
    return LaunchPlan(launcher, budget, (f"{THREADS_KEY}={budget.threads}",), how)


def runs_as_configured(plan: LaunchPlan, configured_threads: int) -> bool:
    """Whether a job composed as configured (with `configured_threads` LightGBM threads) is
    already the job `plan` runs: the plan adds no override, or only the thread count the job
    has anyway. Then the first job, composed to plan the launch, is not composed again."""
    return all(extra == f"{THREADS_KEY}={configured_threads}" for extra in plan.extra)


def job_specs(
    plan: LaunchPlan,
    root: Path,
    sweep_dir: Path,
    jobs: Sequence[Sequence[str]],
    pipelines: Sequence[str],
) -> list[JobSpec]:
    """One spec per job (its overrides, its own output folder), in job order."""
    return [
        JobSpec(
            index=index,
            overrides=tuple(overrides),
            root=root,
            job_dir=sweep_dir / f"job-{index}",
            pipelines=tuple(pipelines),
            extra=plan.extra,
            in_worker=plan.in_workers,
        )
        for index, overrides in enumerate(jobs)
    ]


def _overlaps(key: str, varying: Sequence[str]) -> bool:
    return any(key == v or key.startswith(f"{v}.") or v.startswith(f"{key}.") for v in varying)


def _overlaps_any(params: Mapping[str, str], varying: Sequence[str]) -> bool:
    return any(_overlaps(key, varying) for key in params.values())


def shared_nodes(workspaces: Sequence[Workspace]) -> list[str]:
    """Nodes whose params and upstream are the same in every job (computed once up front);
    none when a job changes the pipeline, the catalog or the data."""
    from reprokit.core.content.params import NON_RESULT_KEYS

    first = workspaces[0]
    varying = sorted(
        {
            key
            for other in workspaces[1:]
            for key in diff_keys(first.params, other.params)
            if not _overlaps(key, NON_RESULT_KEYS)
        }
    )
    if any(_overlaps(key, ["pipeline", "catalog", "data"]) for key in varying):
        return []
    specs = first.config.pipeline.nodes
    producer = {out: name for name, spec in specs.items() for out in spec.output_names}
    shared: list[str] = []
    pending = list(specs)
    # Fixed point over the (acyclic) graph: a node is shared once its producers are.
    changed = True
    while changed:
        changed = False
        for name in list(pending):
            spec = specs[name]
            producers = {producer[d] for d in spec.inputs.values() if d in producer}
            if any(p in pending for p in producers):
                continue
            pending.remove(name)
            changed = True
            if all(p in shared for p in producers) and not _overlaps_any(spec.params, varying):
                shared.append(name)
    return shared
