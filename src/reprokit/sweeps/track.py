"""A sweep in MLflow: one parent run, one child run per job.

Only the sweep's own process talks to MLflow, one call at a time: jobs (in worker processes
too) return their results and the parent logs each job's run as it arrives, with the job's
own start and end times. So parallel jobs never write to the SQLite store concurrently and
no run is created twice.

Children are full runs (composed config, fingerprint, metrics, model and artifacts: each
can be reproduced alone). They do not register models: the sweep registers its best job's
model once, and the promotion rule decides whether it becomes champion.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprokit.config.compose import Workspace
from reprokit.core.names import (
    BEST_JOB_TAG,
    BEST_MODEL_VERSION_TAG,
    BEST_RUN_ID_TAG,
    ENTRY_POINT_TAG,
    ERROR_TAG,
    HOST_TAG,
    OVERRIDES_TAG,
    PID_TAG,
    PROJECT_TAG,
    PRUNED_TAG,
    RANK_DIRECTION_TAG,
    RANK_METRIC_TAG,
    REUSED_NODES_TAG,
    SWEEP_ARGUMENTS_TAG,
    SWEEP_FAILED_JOBS_TAG,
    SWEEP_ID_TAG,
    SWEEP_JOB_TAG,
    SWEEP_JOBS_TAG,
    SWEEP_ROLE_TAG,
    is_result_metric,
)
from reprokit.logs import get_logger
from reprokit.sweeps.jobs import PRUNED, JobResult
from reprokit.sweeps.summary import Ranking, Row, best, to_csv, to_markdown

log = get_logger(__name__)

PARENT_TAG = "mlflow.parentRunId"
SUMMARY_CSV = "sweep_summary.csv"
JOB_SECONDS_METRIC = "time.job_s"  # from the job's execution record ("job")
SUMMARY_MD = "sweep_summary.md"


NOTE_TAG = "mlflow.note.content"  # a run's description in the MLflow UI
MAX_NOTE_LENGTH = 8000  # MLflow's limit on a tag value


def search_space(arguments: list[str]) -> dict[str, str]:
    """`key -> values` of a sweep's `key=values` arguments (`model.num_leaves=15,31`,
    `model.learning_rate=interval(0.01,0.3)`): the parent run's params. Arguments without
    `=` (options, not overrides) are not part of the space."""
    space: dict[str, str] = {}
    for argument in arguments:
        key, separator, values = argument.partition("=")
        if separator and key.strip():
            space[key.strip().lstrip("+~")] = values
    return space


def job_execution(base: Workspace, result: JobResult, entry_point: str) -> Any:
    """The store's view of one job: its composed config, its catalog (job folder and
    cache paths), its fingerprint."""
    from reprokit.config.compose import validate
    from reprokit.tracking.outputs import gate_status, ran_nodes, sweep_job_outputs
    from reprokit.tracking.recorder import hashed_files
    from reprokit.tracking.session import fingerprint_of
    from reprokit.tracking.store import Execution

    params = result.params or base.params
    config = validate(params)
    if result.catalog:
        config = config.model_copy(update={"catalog": result.catalog})
    record = result.record or {}
    outputs = sweep_job_outputs(config, record, result.reused, hashed_files(config, base.root))
    gate = gate_status(config, ran_nodes([record]), None)
    return Execution(
        config=config,
        params=params,
        root=base.root,
        fingerprint=fingerprint_of(config, params, base.root),
        entry_point=entry_point,
        overrides=list(result.overrides),
        records={"job": result.record} if result.record else {},
        params_yaml=result.params_yaml or base.params_yaml,
        outputs=outputs if result.status == "FINISHED" else {},
        gate=gate,
    )


@dataclass
class SweepTracker:
    base: Workspace
    sweep_id: str
    arguments: list[str]
    entry_point: str
    ranking: Ranking
    parent_run_id: str | None = None
    _client: Any = None
    _executions: dict[int, Any] = field(default_factory=dict)
    # The jobs' git state, package versions and environment facts, computed for the first.
    _environment: dict[str, str] | None = None

    def connect(self) -> Any:
        from reprokit.tracking.store import connect

        if self._client is None:
            self._client = connect(self.base.config, self.base.root)
        return self._client

    @property
    def client(self) -> Any:
        return self.connect()

    @property
    def experiment(self) -> str:
        from reprokit.tracking.store import experiment_id

        return experiment_id(self.connect(), self.base.config, self.base.root)

    def start(self, existing_parent: str | None = None) -> str:
        config = self.base.config
        self.connect()
        if existing_parent is not None:  # a resumed search goes on under its parent
            self._client.update_run(existing_parent, status="RUNNING")
            self.parent_run_id = existing_parent
            return existing_parent
        tags = {
            SWEEP_ID_TAG: self.sweep_id,
            SWEEP_ROLE_TAG: "parent",
            PROJECT_TAG: config.project.name,
            ENTRY_POINT_TAG: self.entry_point,
            SWEEP_ARGUMENTS_TAG: json.dumps(self.arguments)[:8000],
            RANK_METRIC_TAG: self.ranking.metric,
            RANK_DIRECTION_TAG: self.ranking.direction,
            # A parent left RUNNING by a killed sweep is then marked KILLED by the next run.
            HOST_TAG: socket.gethostname(),
            PID_TAG: str(os.getpid()),
            "mlflow.source.name": self.entry_point,
        }
        run = self._client.create_run(self.experiment, run_name=self.sweep_id, tags=tags)
        self.parent_run_id = str(run.info.run_id)
        self._log_search_space()
        log.info("sweep.parent_run", run_id=self.parent_run_id, sweep=self.sweep_id)
        return self.parent_run_id

    def _log_search_space(self) -> None:
        """The swept keys and their values as the parent's params: what the sweep varied,
        in the runs table's columns."""
        from mlflow.entities import Param

        from reprokit.tracking.store import MAX_PARAM_LENGTH

        assert self.parent_run_id is not None
        space = search_space(self.arguments)
        if space:
            params = [Param(key, value[:MAX_PARAM_LENGTH]) for key, value in space.items()]
            self._client.log_batch(self.parent_run_id, params=params)

    def log_job(self, result: JobResult) -> str:
        from reprokit.tracking.store import (
            end_run_failed,
            environment_tags,
            log_execution,
            start_run,
        )

        assert self.parent_run_id is not None, "start() first"
        execution = job_execution(self.base, result, self.entry_point)
        if self._environment is None:
            self._environment = environment_tags(self.base.root)
        tags = {
            PARENT_TAG: self.parent_run_id,
            SWEEP_ID_TAG: self.sweep_id,
            SWEEP_ROLE_TAG: "job",
            SWEEP_JOB_TAG: str(result.index),
            REUSED_NODES_TAG: json.dumps(result.reused),
            "mlflow.runName": f"{self.sweep_id}-job{result.index}",
        }
        run_id = start_run(
            self._client,
            execution,
            tags,
            start_time=result.started_ms,
            environment=self._environment,
        )
        if result.status == "FINISHED":
            log_execution(self._client, run_id, execution, end_time=result.ended_ms)
            self._executions[result.index] = (run_id, execution)
        elif result.status == PRUNED:
            # MLflow has no PRUNED status: KILLED (stopped on purpose), with the reason.
            self._client.set_tag(run_id, PRUNED_TAG, (result.error or "pruned")[:500])
            self._client.set_terminated(run_id, status="KILLED", end_time=result.ended_ms)
        else:
            from mlflow.entities import Metric

            # A failed job's metrics (say, a missed quality gate) still inform the sweep.
            metrics = [Metric(k, v, 0, 0) for k, v in sorted(result.metrics.items())]
            if metrics:
                self._client.log_batch(run_id, metrics=metrics)
            text = result.error or "failed"
            if result.error_detail:
                text += "\n\n" + result.error_detail
            end_run_failed(self._client, run_id, text, end_time=result.ended_ms)
        return run_id

    def finish(self, rows: list[Row], title: str) -> str | None:
        """Summary artifacts, the best job's metrics and model version on the parent run."""
        from mlflow.entities import Metric

        from reprokit.tracking.store import register_model

        client, parent = self._client, self.parent_run_id
        assert parent is not None
        client.log_text(parent, to_csv(rows, self.ranking), SUMMARY_CSV)
        summary = to_markdown(rows, self.ranking, title)
        client.log_text(parent, summary, SUMMARY_MD)
        # The parent's description in the MLflow UI (Markdown): the ranked jobs.
        client.set_tag(parent, NOTE_TAG, summary[:MAX_NOTE_LENGTH])
        failed = [row.job for row in rows if row.failed]
        client.set_tag(parent, SWEEP_JOBS_TAG, str(len(rows)))
        client.set_tag(parent, SWEEP_FAILED_JOBS_TAG, json.dumps(failed))
        chosen = best(rows, self.ranking)
        version = None
        if chosen is not None and chosen.run_id is not None:
            client.set_tag(parent, BEST_JOB_TAG, str(chosen.job))
            client.set_tag(parent, BEST_RUN_ID_TAG, chosen.run_id)
            client.log_batch(
                parent, metrics=[Metric(k, v, 0, 0) for k, v in sorted(chosen.metrics.items())]
            )
            # A resumed search's best may be a trial of an earlier session: its model file is
            # that session's; only this session's jobs are registered from here.
            if chosen.job in self._executions:
                run_id, execution = self._executions[chosen.job]
                version = register_model(client, run_id, execution, chosen.metrics)
            if version is not None:
                client.set_tag(parent, BEST_MODEL_VERSION_TAG, version)
        client.set_terminated(parent, status="FAILED" if failed else "FINISHED")
        return version

    def fail(self, error: BaseException) -> None:
        """The sweep itself was interrupted: the parent is not left RUNNING."""
        from reprokit.tracking.store import end_run_failed

        if self._client is not None and self.parent_run_id is not None:
            try:
                end_run_failed(self._client, self.parent_run_id, error)
            except Exception as tracking_error:  # keep the real error visible
                log.error("tracking.unavailable", error=str(tracking_error))


def row_of(result: JobResult, run_id: str | None) -> Row:
    return Row(
        job=result.index,
        status=result.status,
        overrides=list(result.overrides),
        metrics=dict(result.metrics),
        seconds=result.seconds,
        run_id=run_id,
        error=result.error,
        reused=list(result.reused),
    )


def progress_line(result: JobResult, done: int, total: int) -> str:
    line = (
        f"[{done}/{total}] job {result.index} {result.status} in {result.seconds:.1f}s "
        f"(reused {len(result.reused)} nodes)"
    )
    return f"{line}: {result.error}" if result.error else line


def log_as_finished(
    results: Iterable[JobResult],
    total: int,
    tracker: SweepTracker | None,
    say: Callable[[str], None],
) -> list[Row]:
    """The rows of `results` (as jobs finish), each job's run logged while the next job
    runs, by one logging thread: the store still sees one write at a time, in this process
    only."""
    from concurrent.futures import Future, ThreadPoolExecutor

    logged: list[tuple[JobResult, Future[str] | None]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-mlflow") as logger:
        for done, result in enumerate(results, start=1):
            say(progress_line(result, done, total))
            future = logger.submit(tracker.log_job, result) if tracker is not None else None
            logged.append((result, future))
    return [row_of(result, future.result() if future else None) for result, future in logged]


def runs_of_sweep(root: Path, sweep: str) -> tuple[Any, list[Row], Ranking, str]:
    """The parent run (by sweep id or run id), its job rows and its ranking."""
    from reprokit.sweeps.errors import SweepNotFoundError
    from reprokit.tracking.runs import open_store
    from reprokit.tracking.store import experiment_id

    client, config = open_store(root)
    experiment = experiment_id(client, config, root)
    parents = client.search_runs(
        [experiment],
        filter_string=f"tags.`{SWEEP_ID_TAG}` = '{sweep}' and tags.`{SWEEP_ROLE_TAG}` = 'parent'",
        max_results=10,
    )
    parent = parents[0] if parents else None
    if parent is None and len(sweep) == 32 and all(c in "0123456789abcdef" for c in sweep):
        from mlflow.exceptions import MlflowException

        try:
            candidate = client.get_run(sweep)
        except MlflowException:
            candidate = None
        if candidate is not None and candidate.data.tags.get(SWEEP_ROLE_TAG) == "parent":
            parent = candidate
    if parent is None:
        raise SweepNotFoundError(
            f"no sweep {sweep!r} in experiment {config.tracking.experiment!r} of "
            f"{client.tracking_uri}: give a sweep id or the parent run id `reprokit run -m` printed"
        )
    sweep_id = parent.data.tags[SWEEP_ID_TAG]
    ranking = Ranking(
        parent.data.tags.get(RANK_METRIC_TAG, "roc_auc"),
        parent.data.tags.get(RANK_DIRECTION_TAG, "maximize"),
    )
    return parent, child_rows(client, experiment, sweep_id), ranking, sweep_id


def child_rows(client: Any, experiment: str, sweep_id: str) -> list[Row]:
    """One row per job run of the sweep, from the store."""
    children = client.search_runs(
        [experiment],
        filter_string=f"tags.`{SWEEP_ID_TAG}` = '{sweep_id}' and tags.`{SWEEP_ROLE_TAG}` = 'job'",
        max_results=10000,
    )
    return [
        Row(
            job=int(run.data.tags.get(SWEEP_JOB_TAG, "-1")),
            status=run.info.status,
            overrides=json.loads(run.data.tags.get(OVERRIDES_TAG, "[]")),
            metrics={k: v for k, v in run.data.metrics.items() if is_result_metric(k)},
            seconds=run.data.metrics.get(JOB_SECONDS_METRIC),
            run_id=run.info.run_id,
            error=(run.data.tags.get(ERROR_TAG) or "").split("\n", 1)[0] or None,
            reused=json.loads(run.data.tags.get(REUSED_NODES_TAG, "[]")),
        )
        for run in children
    ]
