"""`reprokit run -m`: a Hydra multirun over one config, every job tracked, upstream once.

1. Expand the arguments with Hydra's grammar (expand.py) and compose + validate every job
   before anything runs (as Hydra's sweeper does), so a bad override fails up front.
2. Run the jobs in-process with content-keyed node reuse (reuse.py): the first job computes
   the upstream nodes, the others reuse them. With `hydra/launcher=joblib`, the nodes every
   job shares run once first, then the jobs run in worker processes within a thread budget.
3. Log each job as a child MLflow run under one parent run (track.py), print the summary.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reprokit.config.compose import Workspace, diff_keys
from reprokit.errors import ConfigError
from reprokit.logs import get_logger
from reprokit.sweeps.errors import SweepFailedError
from reprokit.sweeps.expand import SweepPlan, expand
from reprokit.sweeps.jobs import SWEEPS_DIR, JobResult, JobSpec, compose_job, run_job
from reprokit.sweeps.summary import Ranking, Row, render, to_csv, to_markdown
from reprokit.sweeps.track import SweepTracker, row_of

log = get_logger(__name__)

ENTRY_POINT = "reprokit run -m"
THREADS_KEY = "engine.num_threads"
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
    from reprokit.tracking.fingerprint import NON_RESULT_KEYS

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
    specs: Sequence[JobSpec], n_jobs: int, tracker: SweepTracker | None, say: Say
) -> list[Row]:
    """Each job's run is logged while the next job runs, by one logging thread: the store
    still sees one write at a time, in this process only."""
    from concurrent.futures import Future, ThreadPoolExecutor

    logged: list[tuple[JobResult, Future[str] | None]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-mlflow") as logger:
        for done, result in enumerate(launch(specs, n_jobs), start=1):
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
    base = workspaces[0]
    ensure_inputs(workspaces)
    sweep_id = new_sweep_id()
    sweep_dir = root / SWEEPS_DIR / sweep_id
    parallel = plan.launcher == "joblib"
    budget = thread_budget(
        plan.n_jobs if parallel else 1,
        len(plan.jobs),
        base.config.engine.num_threads,
        available_cores(),
    )
    extra = [f"{THREADS_KEY}={budget.threads}"] if parallel else []
    say(
        f"sweep {sweep_id}: {len(plan.jobs)} jobs, "
        + (f"{budget.n_jobs} in parallel x {budget.threads} threads" if parallel else "sequential")
    )
    ranking = Ranking.of(base.config)
    tracker = None
    if base.config.tracking.enabled:
        tracker = SweepTracker(base, sweep_id, list(arguments), ENTRY_POINT, ranking)
        say(f"parent run {tracker.start()}")
    rows: list[Row] = []
    try:
        if parallel and budget.n_jobs > 1 and len(plan.jobs) > 1:
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
        rows = run_and_log(specs, budget.n_jobs, tracker, say)
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
