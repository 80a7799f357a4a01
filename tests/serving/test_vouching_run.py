"""Which recorded run may vouch for a model (DESIGN, Identity: a model ships only if a
FINISHED, gate-passing run produced exactly those bytes), decided on MLflow run entities
as the store returns them; before, only `reprokit package` end to end covered it."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow.entities import Run, RunData, RunInfo, RunTag

from reprokit.serving.recorded_run import rejection

MODEL, STATE = "a" * 64, "b" * 64
BUNDLED = {"model": MODEL, "feature_state": STATE}
# A catalog that declares no role: each role is the dataset of its name (feature_state).
CATALOG: dict[str, Any] = {"model": {}, "feature_state": {}}


def recorded(status: str = "FINISHED", **tags: str) -> Any:
    produced = {"rk.sha.model": MODEL, "rk.sha.state": STATE}
    merged = {"rk.quality_gate": "passed", **produced, **tags}
    info = RunInfo("run1", "0", "u", status, 0, 1, "active")
    return Run(info, RunData(tags=[RunTag(k, v) for k, v in merged.items() if v]))


def test_a_finished_gate_passing_run_that_produced_the_bundle_vouches() -> None:
    assert rejection(recorded(), BUNDLED, CATALOG) is None


@pytest.mark.parametrize(
    ("run", "reason"),
    [
        (
            recorded("FAILED", **{"rk.error": "QualityGateError: roc_auc 0.5 < 0.7"}),
            "run run1 is FAILED (quality gate: passed): QualityGateError: roc_auc 0.5 < 0.7",
        ),
        (
            recorded(**{"rk.quality_gate": "failed"}),
            "run run1 is FINISHED (quality gate: failed): no error recorded",
        ),
        (
            recorded("RUNNING"),
            "run run1 is RUNNING (quality gate: passed): no error recorded",
        ),
        (
            recorded(**{"rk.quality_gate": ""}),
            "run run1 did not check the quality gate (quality gate: unknown); run the "
            "evaluate pipeline in the same execution as train",
        ),
        (
            recorded(**{"rk.sha.state": "c" * 64}),
            "run run1 did not produce the feature_state on disk (sha256 bbbbbbbbbbbb, the "
            "run's cccccccccccc)",
        ),
        (
            recorded(**{"rk.sha.model": ""}),
            "run run1 did not produce the model on disk (sha256 aaaaaaaaaaaa, the run's none)",
        ),
    ],
)
def test_any_other_run_is_refused_with_the_reason(run: Any, reason: str) -> None:
    assert rejection(run, BUNDLED, CATALOG) == reason
