"""The Kedro hook that gives `kedro run` the same tracking as `reprokit run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from reprokit.tracking.recorder import ExecutionRecorder


class TrackingHooks:
    """One MLflow run per `kedro run`, from params.yaml like every other entry point."""

    def __init__(self) -> None:
        self._project_path: Path | None = None
        self._recorder: ExecutionRecorder | None = None
        self._tracked: Any = None
        self._lock: Any = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._project_path = Path(context.project_path)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        from reprokit.config.compose import workspace_from_params_file
        from reprokit.execution import recorder_for
        from reprokit.project_lock import project_lock
        from reprokit.tracking.session import TrackedExecution

        assert self._project_path is not None
        # `kedro run` writes the workspace like `reprokit run`: one writer at a time.
        self._lock = project_lock(self._project_path)
        self._lock.acquire()
        try:
            workspace = workspace_from_params_file(self._project_path)
            pipeline = run_params.get("pipeline_name") or "__default__"
            self._recorder = recorder_for(workspace, [pipeline])
            self._recorder.start()
            if workspace.config.tracking.enabled:
                self._tracked = TrackedExecution(workspace, "kedro run")
                self._tracked.start()
        except BaseException:
            self._release()  # Kedro calls no error hook for a failure here
            raise

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        if self._recorder is not None:
            self._recorder.before_node_run(node)

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        if self._recorder is not None:
            self._recorder.after_node_run(node)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        if self._recorder is not None:
            self._recorder.after_dataset_loaded(dataset_name, data)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        if self._recorder is not None:
            self._recorder.after_dataset_saved(dataset_name)

    @hook_impl
    def after_pipeline_run(self) -> None:
        try:
            if self._recorder is not None and self._tracked is not None:
                self._recorder.succeeded()
                self._tracked.finish(self._recorder.record)
        finally:
            self._release()

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        if self._recorder is not None:
            self._recorder.failed(error)
        try:
            if self._tracked is not None:
                self._tracked.fail(error, None if self._recorder is None else self._recorder.record)
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
