"""`hydra/launcher=dask`: every job is a task (`run_job`) on a Dask cluster's workers.

- No `hydra.launcher.address`: a local cluster on loopback of `budget.n_jobs` worker
  processes, one job at a time each, with the joblib launcher's thread budget (workers x
  LightGBM threads <= cores).
- `hydra.launcher.address=tcp://host:port`: the jobs go to that scheduler's workers, which
  must see the project directory at the same path (a shared filesystem: the jobs read
  conf/, the data and the node cache there, and write their outputs there) and run the
  same reprokit; `engine.num_threads` is left as configured (this process cannot know the
  workers' cores).

The cluster (a local one's processes) is closed after the sweep, also on error and on
KeyboardInterrupt; jobs still queued are cancelled (a task already running on a remote
worker finishes there, its result dropped).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any

from reprokit.config.compose import Workspace
from reprokit.config.models import EngineConfig
from reprokit.logs import get_logger
from reprokit.sweeps.expand import SweepError
from reprokit.sweeps.jobs import JobResult, JobSpec, compose_job, preload, run_job
from reprokit.sweeps.launch_plan import LaunchPlan

log = get_logger(__name__)

# A local Dask cluster's workers share the machine's memory (Dask's "auto": total / workers).
DASK_MEMORY_LIMIT = "auto"


def refuse_dask_engine(jobs: Sequence[Sequence[str]], workspaces: Sequence[Workspace]) -> None:
    """The Dask launcher runs each job with the local engine on one cluster worker; a job on
    the dask engine would start (or borrow) a whole cluster from inside a worker."""
    for index, (overrides, workspace) in enumerate(zip(jobs, workspaces, strict=True)):
        if workspace.config.engine.kind == "dask":
            raise SweepError(
                f"job {index} ({' '.join(overrides) or 'no overrides'}): engine.kind=dask "
                "under `hydra/launcher=dask`: the dask launcher runs each job with the local "
                "engine on a cluster worker; engine=dask inside a job would start a cluster per "
                "job (use `engine=local` with the dask launcher, or the dask engine with the "
                "basic launcher)"
            )


def dask_engine(plan: LaunchPlan) -> EngineConfig:
    """The cluster the jobs go to: the scheduler at `plan.address`, or a local cluster of
    `budget.n_jobs` single-threaded workers (a job at a time each, `budget.threads`
    LightGBM threads per job)."""
    if plan.address is not None:
        return EngineConfig(kind="dask", address=plan.address)
    return EngineConfig(
        kind="dask",
        n_workers=plan.budget.n_jobs,
        threads_per_worker=1,
        memory_limit=DASK_MEMORY_LIMIT,
    )


def _distributed(name: str) -> Any:
    """An attribute of `distributed` (partially typed), imported only for Dask sweeps."""
    import importlib

    return getattr(importlib.import_module("distributed"), name)


def warm_dask_workers(client: Any) -> list[Any]:
    """One `preload` per worker (pinned to it), so the workers import the heavy libraries
    while this process runs the shared upstream nodes."""
    from reprokit.engines.dask.cluster import worker_addresses

    return [
        client.submit(preload, pure=False, workers=[address], allow_other_workers=False)
        for address in sorted(worker_addresses(client))
    ]


def wait_warm(futures: Sequence[Any]) -> None:
    """The workers are ready; a worker that cannot import reprokit fails its jobs (named
    then), so a failed warm-up is only a warning."""
    for future in futures:
        try:
            future.result()
        except Exception as error:
            log.warning("sweep.dask_warmup_failed", error=f"{type(error).__name__}: {error}")


def lost_job(spec: JobSpec, error: BaseException, started_ms: int, started: float) -> JobResult:
    """The FAILED result of a job whose future raised instead of returning a result (its
    worker died: `KilledWorker`; the job could not be sent or was cancelled), timed from
    the jobs' submission, with the job's own params (composed here) for its MLflow run."""
    name = type(error).__name__
    text = f"{name}: {error}"
    if name == "KilledWorker":
        text += (
            " (the worker process running this job died, e.g. out of memory or killed; "
            "Dask retried it on other workers before giving up)"
        )
    result = JobResult(
        index=spec.index,
        overrides=spec.overrides,
        status="FAILED",
        started_ms=started_ms,
        ended_ms=int(time.time() * 1000),
        seconds=round(time.perf_counter() - started, 3),
        error=text,
        error_detail="".join(traceback.format_exception(error)),
    )
    try:  # validated before the sweep started; the run falls back to the sweep's params
        workspace = compose_job(spec.root, spec.overrides, spec.extra)
        result.params, result.params_yaml = workspace.params, workspace.params_yaml
    except Exception as composing:
        log.warning("sweep.lost_job_params", job=spec.index, error=str(composing))
    return result


def launch_on_dask(
    client: Any, specs: Sequence[JobSpec], job: Callable[[JobSpec], JobResult] = run_job
) -> Generator[JobResult, None, None]:
    """Results as jobs finish on the cluster: one future per job, consumed as completed.
    `run_job` never raises; a future that does (its worker died) is that job's FAILED
    result, and the others go on. Jobs not done when this stops are cancelled."""
    as_completed = _distributed("as_completed")
    started_ms, started = int(time.time() * 1000), time.perf_counter()
    specs_by_key: dict[str, JobSpec] = {}
    pending: dict[str, Any] = {}  # the futures of the jobs not done yet, by key
    for spec in specs:
        key = f"reprokit-{spec.job_dir.parent.name}-job-{spec.index}"
        specs_by_key[key] = spec
        pending[key] = client.submit(job, spec, pure=False, key=key)
    try:
        for future in as_completed(list(pending.values())):
            spec = specs_by_key[future.key]
            del pending[future.key]
            try:
                result: JobResult = future.result()
            except Exception as error:
                text = f"{type(error).__name__}: {error}"
                log.error("sweep.job_lost", job=spec.index, error=text)
                result = lost_job(spec, error, started_ms, started)
            # Released at once: a worker dying later cannot make the scheduler rerun a job
            # whose result is already here (Dask recomputes the lost results still held).
            future.release()
            yield result
    finally:
        if pending:
            client.cancel(list(pending.values()))


@dataclass(frozen=True)
class DaskLauncher:
    """The jobs as tasks on the cluster `engine` describes (opened and closed here)."""

    engine: EngineConfig

    @classmethod
    def of(cls, plan: LaunchPlan) -> DaskLauncher:
        return cls(dask_engine(plan))

    @contextmanager
    def launch(
        self, specs: Sequence[JobSpec], prepare: Callable[[], None]
    ) -> Iterator[Iterator[JobResult]]:
        from reprokit.engines.dask.cluster import dask_client

        with dask_client(self.engine) as client:
            warming = warm_dask_workers(client)
            prepare()
            wait_warm(warming)
            with closing(launch_on_dask(client, specs)) as results:
                yield results
