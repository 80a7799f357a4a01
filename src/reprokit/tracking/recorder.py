"""A thin Kedro hook that records what a pipeline execution did, cheaply.

Node durations, the datasets its nodes saved and, for datasets with a validator, the
validated shape. The saved datasets are what the execution *produced*: tracking logs a
model or metrics only when they are among them (a partial run must not record the files
another config left in data/). The small files worth identifying (the model and the other
tracked artifacts) are hashed right after their node saves them, so the recorded sha256 is
of the bytes this execution wrote, not of whatever is on disk when the run is logged.
Never `repr()`s data (Kedro issues #4504/#4505: heavy hooks cost most of a run); `len` and
the column count are O(1) on a DataFrame.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from reprokit.config.roles import MODEL, role_dataset
from reprokit.core.cost import CostMeter

if TYPE_CHECKING:
    from reprokit.config.models import ReprokitConfig


@dataclass
class ExecutionRecord:
    pipelines: list[str]
    started: str = ""
    seconds: float = 0.0
    node_seconds: dict[str, float] = field(default_factory=dict)
    validated: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Dataset -> sha256 of the file its node wrote (None: saved, but not a hashed file).
    saved: dict[str, str | None] = field(default_factory=dict)
    status: str = "RUNNING"
    error: str | None = None
    # md5 of each file a DVC stage read (its deps in dvc.yaml), as it read them.
    inputs: dict[str, str] = field(default_factory=dict)
    # What it cost (reprokit.core.cost): a measurement, never part of a result or a key.
    cost: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ExecutionRecorder:
    """Collects an `ExecutionRecord` while Kedro runs; `validated_datasets` names the
    datasets whose catalog validator ran on load (their shape goes in the summary),
    `hashed` the files to hash when a node saves them (`hashed_files`)."""

    def __init__(
        self,
        pipelines: list[str],
        validated_datasets: set[str],
        hashed: Mapping[str, Path] | None = None,
    ) -> None:
        self.record = ExecutionRecord(pipelines=pipelines)
        self._validated_datasets = validated_datasets
        self._hashed = dict(hashed or {})
        self._node_started: dict[str, float] = {}
        self._started = 0.0
        self._meter: CostMeter | None = None

    # Start and finish are called by whoever runs the pipeline: Kedro's runners fire only
    # node and dataset hooks (pipeline hooks come from a KedroSession, which stages skip).
    def start(self) -> None:
        self._started = time.perf_counter()
        self._meter = CostMeter.begin()
        self.record.started = datetime.now(UTC).isoformat(timespec="seconds")

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        self._node_started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        started = self._node_started.pop(node.name, None)
        if started is not None:
            self.record.node_seconds[node.name] = round(time.perf_counter() - started, 4)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        if dataset_name in self._validated_datasets and hasattr(data, "shape"):
            rows, columns = data.shape
            self.record.validated[dataset_name] = {
                "rows": int(rows),
                "columns": int(columns),
                "status": "passed",
            }

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        from reprokit.core.content.files import file_sha256

        path = self._hashed.get(dataset_name)
        self.record.saved[dataset_name] = (
            file_sha256(path) if path is not None and path.is_file() else None
        )

    def succeeded(self) -> None:
        self._finish("FINISHED", None)

    def failed(self, error: BaseException) -> None:
        self._finish("FAILED", f"{type(error).__name__}: {error}")

    def _finish(self, status: str, error: str | None) -> None:
        self.record.seconds = round(time.perf_counter() - self._started, 4)
        self.record.status = status
        self.record.error = error
        if self._meter is not None:
            self.record.cost = self._meter.cost().as_dict()


def hashed_files(config: ReprokitConfig, root: Path) -> dict[str, Path]:
    """The tracked artifacts (the model, metrics, feature state, ...): small files, the
    ones whose identity a run records and packaging checks (folders are not hashed)."""
    model = role_dataset(config.catalog, MODEL)
    names = {*config.tracking.artifacts, config.tracking.metrics, *([model] if model else [])}
    paths = {
        name: Path(config.catalog[name]["filepath"])
        for name in sorted(names)
        if "filepath" in config.catalog.get(name, {})
    }
    return {name: path if path.is_absolute() else root / path for name, path in paths.items()}


def write_record(record: ExecutionRecord, path: Path) -> None:
    from reprokit.datasets import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record.as_dict(), indent=2) + "\n", encoding="utf-8")


def read_records(folder: Path) -> dict[str, dict[str, Any]]:
    """Stage records by stage name; unreadable files are skipped (they are diagnostics)."""
    records: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            records[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
    return records


def earliest_start_ms(records: Mapping[str, Mapping[str, Any]]) -> int | None:
    """When the first of these stages started (ms since the epoch; None: none says). A run
    logged by the `track` stage then lasts the whole execution, not the track stage alone."""
    starts = []
    for record in records.values():
        try:
            starts.append(datetime.fromisoformat(str(record.get("started", ""))))
        except ValueError:
            continue  # an empty or foreign value: the record is a diagnostic
    return int(min(starts).timestamp() * 1000) if starts else None
