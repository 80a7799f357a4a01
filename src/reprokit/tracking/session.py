"""One MLflow run per pipeline execution, whatever the entry point.

- `reprokit run` and `kedro run` (one process): `TrackedExecution` opens the run in a
  background thread while the pipeline runs (importing mlflow costs seconds, and this
  overlaps it with the work), then fills and closes it.
- `dvc repro` (one process per stage): each stage writes a small record under
  `.reprokit/records/`; the generated `track` stage logs the whole execution as one run.
  A failing stage records a FAILED run itself, since `track` will not run after it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reprokit.config.compose import Workspace
from reprokit.config.models import ReprokitConfig
from reprokit.config.roles import MODEL, role_dataset
from reprokit.core.content.fingerprint import Fingerprint, compute_fingerprint
from reprokit.layout import (
    FINGERPRINT_FILE,
    RECORDS_DIR,
    LastRun,
    free_input_files,
    pipeline_code_files,
    write_last_run,
)
from reprokit.logs import get_logger
from reprokit.tracking.cost import execution_cost_metrics
from reprokit.tracking.outputs import (
    Output,
    dvc_outputs,
    gate_status,
    ran_nodes,
    written_outputs,
)
from reprokit.tracking.recorder import (
    ExecutionRecord,
    earliest_start_ms,
    hashed_files,
    read_records,
)

log = get_logger(__name__)


def fingerprint_of(config: ReprokitConfig, params: Mapping[str, Any], root: Path) -> Fingerprint:
    return compute_fingerprint(
        params, root, free_input_files(config, root), pipeline_code_files(config, root)
    )


def _write_json(path: Path, value: Any) -> None:
    from reprokit.datasets import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _execution(workspace: Workspace, entry_point: str, records: dict[str, Any]) -> Any:
    from reprokit.tracking.store import Execution

    config, params, root = workspace.config, workspace.params, workspace.root
    return Execution(
        config=config,
        params=params,
        root=root,
        fingerprint=fingerprint_of(config, params, root),
        entry_point=entry_point,
        overrides=list(workspace.overrides),
        records=records,
        params_yaml=workspace.params_yaml,
    )


def execution_model_sha256(execution: Any) -> str | None:
    """The sha256 of the model this execution produced (None: it made none)."""
    name = role_dataset(execution.config.catalog, MODEL)
    model: Output | None = None if name is None else execution.outputs.get(name)
    return None if model is None else model.sha256


def with_record_outputs(
    execution: Any, record: ExecutionRecord, error: BaseException | None = None
) -> Any:
    """An in-process execution owns only what its own nodes wrote."""
    execution.outputs = written_outputs([record.as_dict()])
    execution.gate = gate_status(execution.config, ran_nodes([record.as_dict()]), error)
    return execution


def with_dvc_outputs(execution: Any, error: BaseException | None = None) -> Any:
    """A `dvc repro` execution owns what its stages wrote plus what DVC kept because it is
    current (see src/reprokit/tracking/outputs.py)."""
    config, root = execution.config, execution.root
    outputs, ran = dvc_outputs(
        config, execution.params, root, execution.records, hashed_files(config, root)
    )
    execution.outputs = outputs
    execution.gate = gate_status(config, ran, error)
    return execution


def _complete(
    client: Any, run_id: str, execution: Any, before_register: Callable[[], None] | None = None
) -> str:
    """Fill the run, register the model, remember the run id locally.

    `before_register` checks, after everything is logged and before anything is registered,
    that the inputs are still what the execution read; if it raises, the run ends FAILED
    with that error and no model version is registered."""
    from reprokit.tracking.store import (
        end_run_failed,
        log_execution,
        log_run_figures,
        register_model,
        tracking_uri,
    )

    costs = execution_cost_metrics(execution.records)  # the track stage's: up to here
    # The figures are drawn and logged once, by `register_model`, their footers naming the
    # version (or "not registered").
    metrics = log_execution(client, run_id, execution, figures=False, measured=costs)
    if before_register is not None:
        try:
            before_register()
        except Exception as error:
            log_run_figures(client, run_id, execution, None)
            end_run_failed(client, run_id, error)
            raise
    version = register_model(client, run_id, execution, metrics, figures_logged=False)
    config, root = execution.config, execution.root
    name = config.tracking.registered_model
    write_last_run(
        root,
        LastRun(
            run_id=run_id,
            tracking_uri=tracking_uri(config, root),
            experiment_id=str(client.get_run(run_id).info.experiment_id),
            fingerprint=execution.fingerprint.value,
            model_version=version,
            model_sha256=execution_model_sha256(execution),
            registered_model=name if version is not None else None,
            model_aliases=_aliases(client, name, version),
            entry_point=execution.entry_point,
            gate=execution.gate,
            metrics=metrics,
        ),
    )
    log.info(
        "tracking.run_recorded",
        run_id=run_id,
        model_version=version,
        fingerprint=execution.fingerprint.value[:12],
    )
    return run_id


def _aliases(client: Any, name: str | None, version: str | None) -> list[str]:
    """The registry aliases of `version` right after the promotion rule ran."""
    if name is None or version is None:
        return []
    return sorted(client.get_model_version(name, version).aliases)


class TrackedExecution:
    """The MLflow run of one in-process execution (`reprokit run`, `kedro run`)."""

    def __init__(self, workspace: Workspace, entry_point: str) -> None:
        self._workspace = workspace
        self._entry_point = entry_point
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._execution: Any = None
        self._start_error: BaseException | None = None
        self.run_id: str | None = None

    def start(self) -> None:
        """Open the run in the background; the pipeline does not wait for MLflow."""
        self._thread = threading.Thread(target=self._open, name="mlflow-start", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        try:
            from reprokit._compat.mlflow import no_notebook_probes
            from reprokit.tracking.store import connect, start_run

            self._execution = _execution(self._workspace, self._entry_point, {})
            # This thread must not import IPython while the pipeline draws its figures
            # (`no_notebook_probes` says why).
            with no_notebook_probes():
                self._client = connect(self._workspace.config, self._workspace.root)
                self.run_id = start_run(self._client, self._execution)
        except BaseException as error:  # re-raised in the caller's thread by _joined()
            self._start_error = error

    def _joined(self) -> tuple[Any, Any, str]:
        if self._thread is not None:
            self._thread.join()
        if self._start_error is not None:
            raise self._start_error
        assert self.run_id is not None
        return self._client, self._execution, self.run_id

    def finish(self, record: ExecutionRecord) -> str:
        client, execution, run_id = self._joined()
        name = "+".join(record.pipelines).replace("__default__", "all")
        execution.records = {name: record.as_dict()}
        return _complete(client, run_id, with_record_outputs(execution, record))

    def fail(self, error: BaseException, record: ExecutionRecord | None = None) -> None:
        from reprokit.tracking.store import end_run_failed

        try:
            client, execution, run_id = self._joined()
        except Exception as start_error:  # the store failed too: say so, keep the real error
            log.error("tracking.unavailable", error=str(start_error))
            return
        if record is not None:
            execution = with_record_outputs(execution, record, error)
        end_run_failed(client, run_id, error, execution=execution if record else None)
        log.info("tracking.run_failed", run_id=run_id)


def dvc_entry_point() -> str:
    """`dvc exp run` when DVC runs an experiment (it sets DVC_EXP_NAME), else `dvc repro`:
    the MLflow UI and `reprokit runs` tell the two apart."""
    return "dvc exp run" if os.environ.get("DVC_EXP_NAME") else "dvc repro"


def track_dvc_execution(
    workspace: Workspace, before_register: Callable[[], None] | None = None
) -> str:
    """The `track` stage: log the execution the DVC stages just produced as one run
    (`before_register`: see `_complete`)."""
    from reprokit.tracking.store import connect, start_run

    root = workspace.root
    records = read_records(root / RECORDS_DIR)
    execution = with_dvc_outputs(_execution(workspace, dvc_entry_point(), records))
    _write_json(root / FINGERPRINT_FILE, execution.fingerprint.as_dict())
    client = connect(workspace.config, root)
    started = start_run(client, execution, start_time=earliest_start_ms(records))
    run_id = _complete(client, started, execution, before_register)
    clear_records(root)
    return run_id


def clear_records(root: Path) -> None:
    """Records belong to one execution: once logged, a later partial rerun (say train and
    evaluate only) must not report the earlier stages' times as its own."""
    for record in (root / RECORDS_DIR).glob("*.json"):
        record.unlink(missing_ok=True)


def record_failed_stage(workspace: Workspace, stage: str, error: BaseException) -> None:
    """A stage of `dvc repro` failed: the execution's run is recorded FAILED right here."""
    from reprokit.tracking.store import connect, end_run_failed, start_run

    try:
        records = read_records(workspace.root / RECORDS_DIR)
        execution = with_dvc_outputs(_execution(workspace, dvc_entry_point(), records), error)
        client = connect(workspace.config, workspace.root)
        run_id = start_run(client, execution, start_time=earliest_start_ms(records))
        end_run_failed(client, run_id, error, stage, execution=execution)
        clear_records(workspace.root)
    except Exception as tracking_error:  # never hide the stage's own error behind this one
        log.error("tracking.failed_run_not_recorded", stage=stage, error=str(tracking_error))
