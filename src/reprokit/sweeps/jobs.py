"""One job of a sweep: compose, run in-process with node reuse, report (never raise).

A job writes the outputs it computes under its own folder (`.reprokit/sweeps/<id>/job-N/`,
mirroring the catalog's paths), so jobs in parallel never write the same file and the
user's `data/` outputs (DVC's) are left alone; reused outputs stay in the node cache. Jobs
do not talk to MLflow: the sweep's process logs every job's run, one at a time, so parallel
jobs can never collide in the store.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprokit.config.models import ReprokitConfig
from reprokit.logs import get_logger
from reprokit.sweeps.errors import TrialPrunedError

log = get_logger(__name__)

SWEEPS_DIR = ".reprokit/sweeps"
EXTERNAL_DIR = "external"
PRUNED = "PRUNED"


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs to run one job (plain data: it crosses process boundaries)."""

    index: int
    overrides: tuple[str, ...]
    root: Path
    job_dir: Path
    pipelines: tuple[str, ...]
    # Overrides the sweep adds that are not the user's (the thread budget).
    extra: tuple[str, ...] = ()
    reuse: bool = True
    only_nodes: tuple[str, ...] | None = None
    # A worker process starts with default logging: it sets up reprokit's (env-driven) own.
    in_worker: bool = False
    # In-process jobs only (`reprokit tune`): a pipeline transform, e.g. binding the pruning
    # callback; not plain data, so never set for jobs sent to worker processes.
    adapt: Callable[[Any], Any] | None = None
    # The workspace the sweep already composed and validated for these overrides and extras
    # (plain data too: a pickled pydantic config and dicts), so the job does not compose
    # conf/ a second time; None: the job composes it.
    workspace: Any = None


@dataclass
class JobResult:
    index: int
    overrides: tuple[str, ...]
    status: str  # FINISHED, FAILED or PRUNED (a tune trial its pruner stopped)
    started_ms: int
    ended_ms: int
    seconds: float
    error: str | None = None
    error_detail: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    params_yaml: str = ""
    catalog: dict[str, dict[str, Any]] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


def job_catalog(config: ReprokitConfig, job_dir: Path) -> dict[str, dict[str, Any]]:
    """The catalog with every node output's file moved under `job_dir`; inputs untouched."""
    written = {out for spec in config.pipeline.nodes.values() for out in spec.output_names}
    catalog = {name: dict(entry) for name, entry in config.catalog.items()}
    for name in written & set(catalog):
        filepath = catalog[name].get("filepath")
        if not filepath:
            continue
        path = Path(str(filepath))
        moved = job_dir / EXTERNAL_DIR / name / path.name if path.is_absolute() else job_dir / path
        catalog[name]["filepath"] = str(moved)
    return catalog


def read_metrics(
    config: ReprokitConfig, catalog: Mapping[str, Mapping[str, Any]]
) -> dict[str, float]:
    import json

    filepath = catalog.get(config.tracking.metrics, {}).get("filepath")
    if not filepath or not Path(str(filepath)).is_file():
        return {}
    values = json.loads(Path(str(filepath)).read_text(encoding="utf-8"))
    if not isinstance(values, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def compose_job(
    root: Path, overrides: Sequence[str], extra: Sequence[str] = (), composer: Any = None
) -> Any:
    """The job's workspace: conf/ composed with its overrides (+ the sweep's extras), by
    `composer` (reprokit.sweeps.composer.Composer) when the sweep shares one."""
    from dataclasses import replace

    from reprokit.config.compose import workspace_from_conf

    workspace = workspace_from_conf(root, [*overrides, *extra], composer)
    return replace(workspace, overrides=tuple(overrides))


def run_job(spec: JobSpec) -> JobResult:
    """Run one job in this process. Every failure becomes a FAILED result, never an
    exception: the other jobs of the sweep go on."""
    from reprokit.execution import validated_datasets
    from reprokit.node_cache import NodeCache
    from reprokit.runner import run_pipelines
    from reprokit.tracking.recorder import ExecutionRecorder, hashed_files

    if spec.in_worker:
        from reprokit.core.env import disable_telemetry
        from reprokit.logs import configure_logging

        disable_telemetry()
        configure_logging()
    started_ms, started = int(time.time() * 1000), time.perf_counter()
    result = JobResult(spec.index, spec.overrides, "RUNNING", started_ms, started_ms, 0.0)
    recorder: ExecutionRecorder | None = None
    cache: NodeCache | None = None
    try:
        workspace = spec.workspace
        if workspace is None:
            workspace = compose_job(spec.root, spec.overrides, spec.extra)
        result.params, result.params_yaml = workspace.params, workspace.params_yaml
        config = workspace.config.model_copy(
            update={"catalog": job_catalog(workspace.config, spec.job_dir)}
        )
        result.catalog = config.catalog
        only = frozenset(spec.only_nodes) if spec.only_nodes is not None else None
        cache = NodeCache(spec.root, workspace.params, only=only) if spec.reuse else None
        recorder = ExecutionRecorder(
            list(spec.pipelines), validated_datasets(config), hashed_files(config, spec.root)
        )
        recorder.start()
        log.info("sweep.job_start", job=spec.index, overrides=list(spec.overrides))
        run_pipelines(
            config,
            workspace.params,
            spec.root,
            list(spec.pipelines),
            hooks=[recorder],
            reuse=cache,
            adapt=spec.adapt,
        )
        recorder.succeeded()
        result.status = "FINISHED"
    except TrialPrunedError as pruned:
        if recorder is not None:
            recorder.failed(pruned)
        result.status = PRUNED
        result.error = str(pruned)
        log.info("sweep.job_pruned", job=spec.index, reason=str(pruned))
    except Exception as error:  # a job's failure is its result; the sweep goes on
        if recorder is not None:
            recorder.failed(error)
        result.status = "FAILED"
        result.error = f"{type(error).__name__}: {error}"
        result.error_detail = traceback.format_exc()
        log.error("sweep.job_failed", job=spec.index, error=result.error)
    _complete(result, cache, recorder, started)
    log.info(
        "sweep.job_done",
        job=spec.index,
        status=result.status,
        seconds=result.seconds,
        reused=result.reused,
    )
    return result


def _complete(result: JobResult, cache: Any, recorder: Any, started: float) -> None:
    """What the job left behind: reuse, record, timing and the metrics it wrote."""
    if cache is not None and cache.config is not None:
        result.catalog = cache.config.catalog
        result.reused, result.computed = list(cache.reused), list(cache.computed)
    if recorder is not None:
        result.record = recorder.record.as_dict()
    result.ended_ms = int(time.time() * 1000)
    result.seconds = round(time.perf_counter() - started, 3)
    if result.params:
        from reprokit.config.compose import validate

        result.metrics = read_metrics(validate(result.params), result.catalog)


def preload() -> None:
    """Import what a job needs, in a fresh worker process, while the parent still works."""
    from hydra import compose  # noqa: F401
    from kedro.runner import SequentialRunner  # noqa: F401

    import reprokit.nodes.train
    import reprokit.runner  # noqa: F401
    from reprokit.models import import_learners

    import_learners()
