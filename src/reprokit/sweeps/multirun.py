"""`reprokit run -m`: a Hydra multirun over one config, every job tracked, upstream once.

1. Expand the arguments with Hydra's grammar (expand.py) and compose + validate every job
   before anything runs (as Hydra's sweeper does), so a bad override fails up front.
2. Plan the launch (launch_plan.py: the launcher, workers x threads within the cores) and
   run the jobs with content-keyed node reuse (reprokit.node_cache) through the chosen launcher
   (launchers.py): in this process, where the first job computes the upstream nodes and the
   others reuse them; or, with `hydra/launcher=joblib|dask`, in worker processes or on a Dask
   cluster's workers, after this process computed the nodes every job shares.
3. Log each job as a child MLflow run under one parent run (track.py), print the summary.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reprokit.config.compose import Workspace
from reprokit.errors import ConfigError
from reprokit.logs import get_logger
from reprokit.sweeps.composer import Composer
from reprokit.sweeps.dask_launcher import refuse_dask_engine
from reprokit.sweeps.errors import SweepFailedError
from reprokit.sweeps.expand import SweepPlan, expand
from reprokit.sweeps.jobs import SWEEPS_DIR, JobSpec, compose_job, run_job
from reprokit.sweeps.launch_plan import (
    available_cores,
    job_specs,
    plan_launch,
    runs_as_configured,
    shared_nodes,
)
from reprokit.sweeps.launchers import launcher_for
from reprokit.sweeps.summary import Ranking, Row, render, to_csv, to_markdown
from reprokit.sweeps.track import SweepTracker, log_as_finished

log = get_logger(__name__)

ENTRY_POINT = "reprokit run -m"
# Launchers whose jobs get the workspace composed here (a Dask cluster's workers compose
# their own: they may not share this process's Python or paths).
SHIPS_WORKSPACES = ("basic", "joblib")
Say = Callable[[str], None]


def new_sweep_id() -> str:
    return f"sweep-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def compose_jobs(
    root: Path,
    jobs: Sequence[Sequence[str]],
    extra: Sequence[str] = (),
    first: Workspace | None = None,
    composer: Composer | None = None,
) -> list[Workspace]:
    """Every job's config (with the sweep's `extra` overrides), validated before anything
    runs; errors name the job. `first`: the first job's workspace when it is already
    composed so (the sweep composed it to plan the launch)."""
    composer = composer or Composer(root)
    head = [first] if first is not None else []
    rest = range(len(head), len(jobs))
    return [*head, *(compose_one(root, index, jobs[index], extra, composer) for index in rest)]


def compose_one(
    root: Path,
    index: int,
    overrides: Sequence[str],
    extra: Sequence[str] = (),
    composer: Composer | None = None,
) -> Workspace:
    """One job's config, validated (its pipelines built too); errors name the job."""
    from reprokit.pipeline.spec import build_pipelines

    try:
        workspace: Workspace = compose_job(root, overrides, extra, composer)
        config = workspace.config
        build_pipelines(config.pipeline, workspace.params, config.catalog)
    except ConfigError as error:
        raise type(error)(f"job {index} ({' '.join(overrides)}): {error}") from None
    return workspace


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
        workspace=workspaces[0],  # composed for the same overrides (and extras)
    )
    result = run_job(spec)
    if result.status != "FINISHED":  # the jobs will compute (and report) it themselves
        log.warning("sweep.upstream_pass_failed", error=result.error)


def write_summary(sweep_dir: Path, rows: Sequence[Row], ranking: Ranking, title: str) -> None:
    """`summary.csv` and `summary.md` in the sweep's folder, each written whole or not at all."""
    from reprokit.datasets import atomic_path

    for name, text in (
        ("summary.csv", to_csv(rows, ranking)),
        ("summary.md", to_markdown(rows, ranking, title)),
    ):
        with atomic_path(sweep_dir / name) as tmp:
            tmp.write_text(text, encoding="utf-8")


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
    # The first job as configured decides the thread budget; every job is then composed
    # once, with the budget's overrides, and the jobs run those workspaces (in this process
    # or, pickled, in joblib's workers) instead of composing conf/ again.
    composer = Composer(root)  # the jobs differ in values: Hydra reads conf/ once
    base = compose_one(root, 0, plan.jobs[0], composer=composer)
    configured = base.config.engine.num_threads
    launch = plan_launch(plan, configured, available_cores())
    first = base if runs_as_configured(launch, configured) else None
    workspaces = compose_jobs(root, plan.jobs, launch.extra, first, composer)
    if plan.launcher == "dask":
        refuse_dask_engine(plan.jobs, workspaces)
    ensure_inputs(workspaces)
    sweep_id = new_sweep_id()
    sweep_dir = root / SWEEPS_DIR / sweep_id
    say(f"sweep {sweep_id}: {len(plan.jobs)} jobs, {launch.how}")
    ranking = Ranking.of(base.config)
    tracker = None
    if base.config.tracking.enabled:
        tracker = SweepTracker(base, sweep_id, list(arguments), ENTRY_POINT, ranking)
        say(f"parent run {tracker.start()}")
    specs = job_specs(launch, root, sweep_dir, plan.jobs, pipelines)
    if launch.launcher in SHIPS_WORKSPACES:
        specs = [replace(spec, workspace=ws) for spec, ws in zip(specs, workspaces, strict=True)]

    def prepare() -> None:
        upstream_pass(root, sweep_dir, workspaces, pipelines)

    try:
        with launcher_for(launch).launch(specs, prepare) as results:
            rows = log_as_finished(results, len(specs), tracker, say)
    except BaseException as error:
        if tracker is not None:
            tracker.fail(error)
        raise
    rows.sort(key=lambda row: row.job)
    title = f"sweep {sweep_id}"
    write_summary(sweep_dir, rows, ranking, title)
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
