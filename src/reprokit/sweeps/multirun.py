"""`reprokit run -m`: a Hydra multirun over one config, every job tracked, upstream once.

1. Expand the arguments with Hydra's grammar (expand.py) and compose + validate every job
   before anything runs (as Hydra's sweeper does), so a bad override fails up front.
2. Run the jobs in-process with content-keyed node reuse (node_cache.py): the first job computes
   the upstream nodes, the others reuse them. With `hydra/launcher=joblib`, the nodes every
   job shares run once first, then the jobs run in worker processes within a thread budget.
   With `hydra/launcher=dask`, likewise on the workers of a Dask cluster (see `run_on_dask`).
3. Log each job as a child MLflow run under one parent run (track.py), print the summary.
"""

from __future__ import annotations

import os
import secrets
import time
import traceback
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reprokit.config.compose import Workspace, diff_keys
from reprokit.config.models import EngineConfig
from reprokit.errors import ConfigError
from reprokit.logs import get_logger
from reprokit.sweeps.errors import SweepFailedError
from reprokit.sweeps.expand import PARALLEL_LAUNCHERS, SweepError, SweepPlan, expand
from reprokit.sweeps.jobs import SWEEPS_DIR, JobResult, JobSpec, compose_job, run_job
from reprokit.sweeps.summary import Ranking, Row, render, to_csv, to_markdown
from reprokit.sweeps.track import SweepTracker, row_of

log = get_logger(__name__)

ENTRY_POINT = "reprokit run -m"
THREADS_KEY = "engine.num_threads"
# A local Dask cluster's workers share the machine's memory (Dask's "auto": total / workers).
DASK_MEMORY_LIMIT = "auto"
Say = Callable[[str], None]


def new_sweep_id(prefix: str = "sweep") -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


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


def compose_jobs(root: Path, jobs: Sequence[Sequence[str]]) -> list[Workspace]:
    """Every job's config, validated before anything runs; errors name the job."""
    from reprokit.pipeline.spec import build_pipelines

    workspaces = []
    for index, overrides in enumerate(jobs):
        try:
            workspace = compose_job(root, overrides)
            config = workspace.config
            build_pipelines(config.pipeline, workspace.params, config.catalog)
        except ConfigError as error:
            raise type(error)(f"job {index} ({' '.join(overrides)}): {error}") from None
        workspaces.append(workspace)
    return workspaces


def _overlaps(key: str, varying: Sequence[str]) -> bool:
    return any(key == v or key.startswith(f"{v}.") or v.startswith(f"{key}.") for v in varying)


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


def _overlaps_any(params: Mapping[str, str], varying: Sequence[str]) -> bool:
    return any(_overlaps(key, varying) for key in params.values())


def ensure_inputs(workspaces: Sequence[Workspace]) -> None:
    """Generated or bundled data every job reads exists before the jobs start."""
    from reprokit.datagen.prepare import ensure_source
    from reprokit.errors import DataError

    seen: set[str] = set()
    for workspace in workspaces:
        data = workspace.config.data
        key = f"{data.path}|{data.source.model_dump()}"
        if key in seen:
            continue
        seen.add(key)
        try:
            ensure_source(data.source.model_dump(), data.path, workspace.root)
        except (ValueError, OSError) as error:
            raise DataError(f"data.source ({data.source.kind}): {error}") from error


def progress_line(result: JobResult, done: int, total: int) -> str:
    line = (
        f"[{done}/{total}] job {result.index} {result.status} in {result.seconds:.1f}s "
        f"(reused {len(result.reused)} nodes)"
    )
    return f"{line}: {result.error}" if result.error else line


def job_specs(
    root: Path,
    sweep_dir: Path,
    *,
    jobs: Sequence[Sequence[str]],
    pipelines: Sequence[str],
    extra: Sequence[str],
    in_worker: bool,
) -> list[JobSpec]:
    return [
        JobSpec(
            index=index,
            overrides=tuple(overrides),
            root=root,
            job_dir=sweep_dir / f"job-{index}",
            pipelines=tuple(pipelines),
            extra=tuple(extra),
            in_worker=in_worker,
        )
        for index, overrides in enumerate(jobs)
    ]


def _joblib() -> Any:
    """joblib (Hydra's joblib launcher's library), imported only for parallel sweeps."""
    import importlib

    return importlib.import_module("joblib")


def start_workers(n_jobs: int) -> Any:
    """Spawn the workers and let them import the heavy libraries (seconds each) while this
    process runs the shared upstream nodes; loky keeps the same workers for the jobs."""
    from reprokit.sweeps.jobs import preload

    joblib = _joblib()
    parallel = joblib.Parallel(n_jobs=n_jobs, backend="loky", return_as="generator")
    return parallel(joblib.delayed(preload)() for _ in range(n_jobs))


def launch(specs: Sequence[JobSpec], n_jobs: int) -> Iterator[JobResult]:
    """Results as jobs finish: in this process, or in `n_jobs` joblib (loky) workers."""
    if n_jobs <= 1:
        for spec in specs:
            yield run_job(spec)
        return
    joblib = _joblib()
    parallel = joblib.Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")
    yield from parallel(joblib.delayed(run_job)(spec) for spec in specs)


def run_and_log(
    specs: Sequence[JobSpec],
    n_jobs: int,
    tracker: SweepTracker | None,
    say: Say,
    results: Iterable[JobResult] | None = None,
) -> list[Row]:
    """Each job's run is logged while the next job runs, by one logging thread: the store
    still sees one write at a time, in this process only. `results` (as jobs finish) come
    from `launch(specs, n_jobs)` unless given (the Dask launcher's)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    finished = launch(specs, n_jobs) if results is None else results
    logged: list[tuple[JobResult, Future[str] | None]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-mlflow") as logger:
        for done, result in enumerate(finished, start=1):
            say(progress_line(result, done, len(specs)))
            future = logger.submit(tracker.log_job, result) if tracker is not None else None
            logged.append((result, future))
    return [row_of(result, future.result() if future else None) for result, future in logged]


def upstream_pass(
    root: Path, sweep_dir: Path, workspaces: Sequence[Workspace], pipelines: Sequence[str]
) -> None:
    """Compute the nodes every job shares once, before parallel jobs would all compute them."""
    shared = shared_nodes(workspaces)
    if not shared:
        return
    log.info("sweep.upstream_pass", nodes=shared)
    spec = JobSpec(
        index=-1,
        overrides=workspaces[0].overrides,
        root=root,
        job_dir=sweep_dir / "upstream",
        pipelines=tuple(pipelines),
        only_nodes=tuple(shared),
    )
    result = run_job(spec)
    if result.status != "FINISHED":  # the jobs will compute (and report) it themselves
        log.warning("sweep.upstream_pass_failed", error=result.error)


# --- the Dask launcher ---------------------------------------------------------------------


def refuse_dask_engine(plan: SweepPlan, workspaces: Sequence[Workspace]) -> None:
    """The Dask launcher runs each job with the local engine on one cluster worker; a job on
    the dask engine would start (or borrow) a whole cluster from inside a worker."""
    for index, (overrides, workspace) in enumerate(zip(plan.jobs, workspaces, strict=True)):
        if workspace.config.engine.kind == "dask":
            raise SweepError(
                f"job {index} ({' '.join(overrides) or 'no overrides'}): engine.kind=dask "
                "under `hydra/launcher=dask`: the dask launcher runs each job with the local "
                "engine on a cluster worker; engine=dask inside a job would start a cluster per "
                "job (use `engine=local` with the dask launcher, or the dask engine with the "
                "basic launcher)"
            )


def dask_engine(plan: SweepPlan, budget: Budget) -> EngineConfig:
    """The cluster the jobs go to: the scheduler at `plan.address`, or a local cluster of
    `budget.n_jobs` single-threaded workers (a job at a time each, `budget.threads` LightGBM
    threads per job)."""
    if plan.address is not None:
        return EngineConfig(kind="dask", address=plan.address)
    return EngineConfig(
        kind="dask",
        n_workers=budget.n_jobs,
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
    from reprokit.sweeps.jobs import preload

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


def run_on_dask(
    root: Path,
    sweep_dir: Path,
    plan: SweepPlan,
    workspaces: Sequence[Workspace],
    pipelines: Sequence[str],
    *,
    budget: Budget,
    extra: Sequence[str],
    tracker: SweepTracker | None,
    say: Say,
) -> list[Row]:
    """`hydra/launcher=dask`: every job is a task (`run_job`) on a Dask cluster's workers;
    this process runs the shared upstream nodes first and logs every job's run.

    - No `hydra.launcher.address`: a local cluster on loopback of `budget.n_jobs` worker
      processes, one job at a time each, with the joblib launcher's thread budget (workers x
      LightGBM threads <= cores).
    - `hydra.launcher.address=tcp://host:port`: the jobs go to that scheduler's workers,
      which must see the project directory at the same path (a shared filesystem: the jobs
      read conf/, the data and the node cache there, and write their outputs there) and run
      the same reprokit; `engine.num_threads` is left as configured (this process cannot
      know the workers' cores).

    The cluster (a local one's processes) is closed after the sweep, also on error and on
    KeyboardInterrupt; jobs still queued are cancelled (a task already running on a remote
    worker finishes there, its result dropped).
    """
    from reprokit.engines.dask.cluster import dask_client

    with dask_client(dask_engine(plan, budget)) as client:
        warming = warm_dask_workers(client)
        upstream_pass(root, sweep_dir, workspaces, pipelines)
        wait_warm(warming)
        specs = job_specs(
            root, sweep_dir, jobs=plan.jobs, pipelines=pipelines, extra=extra, in_worker=True
        )
        with closing(launch_on_dask(client, specs)) as results:
            return run_and_log(specs, budget.n_jobs, tracker, say, results=results)


def run_here(
    root: Path,
    sweep_dir: Path,
    plan: SweepPlan,
    workspaces: Sequence[Workspace],
    pipelines: Sequence[str],
    *,
    budget: Budget,
    extra: Sequence[str],
    tracker: SweepTracker | None,
    say: Say,
) -> list[Row]:
    """`hydra/launcher=basic|joblib`: in this process, or in joblib (loky) workers."""
    if plan.launcher == "joblib" and budget.n_jobs > 1 and len(plan.jobs) > 1:
        warming = start_workers(budget.n_jobs)
        upstream_pass(root, sweep_dir, workspaces, pipelines)
        for _ in warming:  # the workers are ready
            pass
    specs = job_specs(
        root,
        sweep_dir,
        jobs=plan.jobs,
        pipelines=pipelines,
        extra=extra,
        in_worker=budget.n_jobs > 1,
    )
    return run_and_log(specs, budget.n_jobs, tracker, say)


def sweep_budget(plan: SweepPlan, configured_threads: int) -> tuple[Budget, list[str], str]:
    """The thread budget, the overrides it adds to every job, and how the jobs run (said)."""
    parallel = plan.launcher in PARALLEL_LAUNCHERS
    budget = thread_budget(
        plan.n_jobs if parallel else 1, len(plan.jobs), configured_threads, available_cores()
    )
    if plan.launcher == "dask" and plan.address is not None:
        # A remote cluster's workers have their own cores: jobs keep the configured threads.
        return budget, [], f"on the Dask cluster at {plan.address} ({THREADS_KEY} as configured)"
    if not parallel:
        return budget, [], "sequential"
    how = f"{budget.n_jobs} in parallel x {budget.threads} threads"
    if plan.launcher == "dask":
        how += " on a local Dask cluster"
    return budget, [f"{THREADS_KEY}={budget.threads}"], how


def run_sweep(
    root: Path,
    arguments: Sequence[str],
    pipelines: Sequence[str],
    say: Say,
    out: Any = None,
) -> list[Row]:
    """Expand, validate, run, track and summarise a sweep; raises `SweepFailedError` after
    the summary when a job failed."""
    plan: SweepPlan = expand(root, arguments)
    workspaces = compose_jobs(root, plan.jobs)
    if plan.launcher == "dask":
        refuse_dask_engine(plan, workspaces)
    base = workspaces[0]
    ensure_inputs(workspaces)
    sweep_id = new_sweep_id()
    sweep_dir = root / SWEEPS_DIR / sweep_id
    budget, extra, how = sweep_budget(plan, base.config.engine.num_threads)
    say(f"sweep {sweep_id}: {len(plan.jobs)} jobs, {how}")
    ranking = Ranking.of(base.config)
    tracker = None
    if base.config.tracking.enabled:
        tracker = SweepTracker(base, sweep_id, list(arguments), ENTRY_POINT, ranking)
        say(f"parent run {tracker.start()}")
    rows: list[Row] = []
    try:
        run = run_on_dask if plan.launcher == "dask" else run_here
        rows = run(
            root,
            sweep_dir,
            plan,
            workspaces,
            pipelines,
            budget=budget,
            extra=extra,
            tracker=tracker,
            say=say,
        )
    except BaseException as error:
        if tracker is not None:
            tracker.fail(error)
        raise
    rows.sort(key=lambda row: row.job)
    title = f"sweep {sweep_id}"
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "summary.csv").write_text(to_csv(rows, ranking), encoding="utf-8")
    (sweep_dir / "summary.md").write_text(to_markdown(rows, ranking, title), encoding="utf-8")
    if tracker is not None:
        version = tracker.finish(rows, title)
        if version is not None:
            say(f"best job's model registered as version {version}")
    if out is not None:
        render(rows, ranking, out, title)
    failed = [row.job for row in rows if row.failed]
    if failed:
        raise SweepFailedError(
            f"{len(failed)} of {len(rows)} jobs of sweep {sweep_id} failed: jobs {failed} "
            "(see the summary above; `reprokit sweeps show` lists their errors)"
        )
    return rows
