"""Run pipelines with the execution recorder and, when enabled, MLflow tracking.

The bridge between the runner (Kedro) and tracking, shared by `reprokit run` and the DVC
stage command, so that both record executions the same way.
"""

from __future__ import annotations

from typing import Any

from reprokit.config.compose import Workspace
from reprokit.config.models import ReprokitConfig
from reprokit.runner import run_pipelines
from reprokit.tracking.recorder import ExecutionRecorder, hashed_files, write_record
from reprokit.tracking.session import RECORDS_DIR, TrackedExecution, record_failed_stage


def validated_datasets(config: ReprokitConfig) -> set[str]:
    return {name for name, entry in config.catalog.items() if "validator" in entry}


def recorder_for(workspace: Workspace, pipelines: list[str]) -> ExecutionRecorder:
    config = workspace.config
    return ExecutionRecorder(
        pipelines, validated_datasets(config), hashed_files(config, workspace.root)
    )


def run_tracked(workspace: Workspace, pipelines: list[str], entry_point: str) -> dict[str, Any]:
    """One execution in this process = one MLflow run (when tracking is enabled)."""
    config = workspace.config
    recorder = recorder_for(workspace, pipelines)
    tracked = None
    if config.tracking.enabled:
        tracked = TrackedExecution(workspace, entry_point)
        tracked.start()
    recorder.start()
    try:
        outputs = run_pipelines(
            config, workspace.params, workspace.root, pipelines, hooks=[recorder]
        )
    except BaseException as error:
        recorder.failed(error)
        if tracked is not None:
            tracked.fail(error, recorder.record)
        raise
    recorder.succeeded()
    if tracked is not None:
        tracked.finish(recorder.record)
    return outputs


def run_stage(workspace: Workspace, stage: str) -> dict[str, Any]:
    """One DVC stage: record it for the `track` stage; a failure is recorded FAILED here."""
    config, root = workspace.config, workspace.root
    recorder = recorder_for(workspace, [stage])
    record_path = root / RECORDS_DIR / f"{stage}.json"
    recorder.start()
    try:
        outputs = run_pipelines(config, workspace.params, root, [stage], hooks=[recorder])
    except BaseException as error:
        recorder.failed(error)
        write_record(recorder.record, record_path)
        if config.tracking.enabled:
            record_failed_stage(workspace, stage, error)
        raise
    recorder.succeeded()
    write_record(recorder.record, record_path)
    return outputs
