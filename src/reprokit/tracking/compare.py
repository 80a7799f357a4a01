"""Compare two recorded runs of this project (`reprokit diff`): composed config keys, data
hashes, code/lock/result hashes, metrics and the recorded environment, as plain data.
`reprokit reproduce` compares a rerun with its run the same way (`ABSENT`, `show_value`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit.core.environment import environment_changes
from reprokit.core.names import (
    CODE_HASH_TAG,
    CONFIG_HASH_TAG,
    FINGERPRINT_TAG,
    GIT_COMMIT_TAG,
    LOCK_HASH_TAG,
    MODEL_SHA256_TAG,
)
from reprokit.tracking.runs import RecordedRun, composed_config, open_store, project_run


class _Absent:
    """A key one side of a comparison lacks (distinct from a YAML `null`)."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()


def show_value(value: Any) -> str:
    """A config or tag value as text: strings bare, everything else as JSON."""
    if value is ABSENT:
        return repr(ABSENT)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def flatten_config(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys to leaf values; lists stay whole (their order is their meaning)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


@dataclass(frozen=True)
class Change:
    key: str
    a: Any
    b: Any

    @property
    def same(self) -> bool:
        return bool(self.a == self.b)


def compare_keys(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Change]:
    """Every key of either side, in order, with `ABSENT` where one side lacks it."""
    keys = sorted(set(a) | set(b))
    return [Change(key, a.get(key, ABSENT), b.get(key, ABSENT)) for key in keys]


def config_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Change]:
    """The flattened keys whose values differ between two composed configs."""
    return [c for c in compare_keys(flatten_config(a), flatten_config(b)) if not c.same]


@dataclass(frozen=True)
class MetricDelta:
    name: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


def metric_deltas(a: Mapping[str, float], b: Mapping[str, float]) -> list[MetricDelta]:
    return [MetricDelta(name, a.get(name), b.get(name)) for name in sorted(set(a) | set(b))]


@dataclass(frozen=True)
class RunDiff:
    run_a: RecordedRun
    run_b: RecordedRun
    config: list[Change]
    data: list[Change]
    hashes: list[Change]
    metrics: list[MetricDelta]
    environment: list[Change]


# The hashes `reprokit diff` shows, by the name it shows them under.
HASH_TAGS = {
    "fingerprint": FINGERPRINT_TAG,
    "config_hash": CONFIG_HASH_TAG,
    "code_hash": CODE_HASH_TAG,
    "lock_hash": LOCK_HASH_TAG,
    "model_sha256": MODEL_SHA256_TAG,
    "git_commit": GIT_COMMIT_TAG,
}


def diff_of(
    run_a: RecordedRun, run_b: RecordedRun, config_a: Mapping[str, Any], config_b: Mapping[str, Any]
) -> RunDiff:
    hashes_a = {name: run_a.tag(key) or ABSENT for name, key in HASH_TAGS.items()}
    hashes_b = {name: run_b.tag(key) or ABSENT for name, key in HASH_TAGS.items()}
    return RunDiff(
        run_a=run_a,
        run_b=run_b,
        config=config_changes(config_a, config_b),
        data=compare_keys(run_a.data_hashes, run_b.data_hashes),
        hashes=[Change(n, hashes_a[n], hashes_b[n]) for n in HASH_TAGS],
        metrics=metric_deltas(run_a.result_metrics, run_b.result_metrics),
        environment=[
            Change(name, a if a is not None else ABSENT, b if b is not None else ABSENT)
            for name, a, b in environment_changes(run_a.environment, run_b.environment)
        ],
    )


def diff_runs(root: Path, run_a: str, run_b: str, scratch: Path) -> RunDiff:
    """Config, data, code and metric differences of two runs of this project."""
    client, config = open_store(root)
    runs = [project_run(client, run_id, config.project.name) for run_id in (run_a, run_b)]
    configs = [composed_config(client, run.run_id, scratch) for run in runs]
    return diff_of(runs[0], runs[1], configs[0], configs[1])
