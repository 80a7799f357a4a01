"""Run pipelines with the execution recorder and, when enabled, MLflow tracking.

The bridge between the runner (Kedro) and tracking, shared by `reprokit run` and the DVC
stage command, so that both record executions the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reprokit.config.compose import Workspace
from reprokit.config.models import ReprokitConfig
from reprokit.core.names import PARAMS_FILE
from reprokit.input_guard import InputsChangedError, snapshot, verify_unchanged
from reprokit.layout import RECORDS_DIR, free_input_files
from reprokit.runner import check_pipeline_names, run_pipelines
from reprokit.tracking.recorder import ExecutionRecorder, hashed_files, write_record
from reprokit.tracking.session import TrackedExecution, clear_records, record_failed_stage
from reprokit.viz_stats import VizStatsHook


def validated_datasets(config: ReprokitConfig) -> set[str]:
    return {name for name, entry in config.catalog.items() if "validator" in entry}


def recorder_for(workspace: Workspace, pipelines: list[str]) -> ExecutionRecorder:
    config = workspace.config
    return ExecutionRecorder(
        pipelines, validated_datasets(config), hashed_files(config, workspace.root)
    )


def run_tracked(workspace: Workspace, pipelines: list[str], entry_point: str) -> dict[str, Any]:
    """One execution in this process = one MLflow run (when tracking is enabled). Its input
    data must not change while it runs (the fingerprint hashes it as it is read)."""
    config = workspace.config
    recorder = recorder_for(workspace, pipelines)
    inputs = snapshot(workspace.root, free_input_files(config, workspace.root).values())
    tracked = None
    if config.tracking.enabled:
        tracked = TrackedExecution(workspace, entry_point)
        tracked.start()
    viz = VizStatsHook(workspace.root, config.catalog)
    recorder.start()
    try:
        outputs = run_pipelines(
            config, workspace.params, workspace.root, pipelines, hooks=[recorder, viz]
        )
        verify_unchanged(workspace.root, inputs, entry_point)
    except BaseException as error:
        recorder.failed(error)
        if tracked is not None:
            tracked.fail(error, recorder.record)
        raise
    recorder.succeeded()
    viz.write()
    if tracked is not None:
        tracked.finish(recorder.record)
    return outputs


def run_stage(workspace: Workspace, stage: str, inputs: Mapping[str, str]) -> dict[str, Any]:
    """One DVC stage: record it for the `track` stage; a failure is recorded FAILED here.

    `inputs` are the content hashes of what it reads, taken before it started: if they
    changed while it ran, it fails and records nothing (no stage record, no run), and DVC,
    seeing the command fail, saves and caches nothing of it. Its record keeps them (but
    params.yaml) for `track` to check that they are still the files it read.
    """
    config, root = workspace.config, workspace.root
    # A mistyped name is the user's error, not a failed run: refused before anything is recorded.
    check_pipeline_names(config.pipeline.pipelines, [stage])
    recorder = recorder_for(workspace, [stage])
    record_path = root / RECORDS_DIR / f"{stage}.json"
    viz = VizStatsHook(root, config.catalog)
    recorder.start()
    try:
        outputs = run_pipelines(config, workspace.params, root, [stage], hooks=[recorder, viz])
    except BaseException as error:
        recorder.failed(error)
        write_record(recorder.record, record_path)
        if config.tracking.enabled:
            record_failed_stage(workspace, stage, error)
        raise
    try:
        verify_unchanged(root, inputs, f"DVC stage {stage!r}")
    except InputsChangedError:
        # As for any failure (record_failed_stage): the execution's records are void.
        clear_records(root)
        raise
    recorder.record.inputs = {name: md5 for name, md5 in inputs.items() if name != PARAMS_FILE}
    recorder.succeeded()
    write_record(recorder.record, record_path)
    viz.write()
    return outputs
