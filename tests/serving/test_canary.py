"""The canary ramp's state machine (reprokit.serving.canary), on an injected clock: steps
after each hold time, promotion at 1.0, rollback on errors or drift, no re-adoption."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from tests.support.mlflow_store import registry_with_versions

from reprokit.config.models import CanaryConfig
from reprokit.serving.canary import (
    CanaryRamp,
    Ramp,
    Tally,
    Verdict,
    judge,
    rollback_reason,
    tag_rolled_back,
)
from reprokit.serving.store import registered_version

CONFIG = CanaryConfig(
    enabled=True, steps=(0.1, 0.5, 1.0), hold_s=10, max_error_rate=0.1, min_requests=5
)
CALLERS = [f"key-{number}" for number in range(400)]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_step_waits_for_its_hold_time_and_enough_requests() -> None:
    ramp = Ramp("m:2", 0, since=100.0)
    assert judge(CONFIG, ramp, Tally(50), (), now=109.9).action == "hold"
    assert judge(CONFIG, ramp, Tally(4), (), now=200.0).action == "hold"  # no evidence yet
    verdict = judge(CONFIG, ramp, Tally(5), (), now=110.0)
    assert (verdict.action, verdict.ramp) == ("step", Ramp("m:2", 1, since=110.0))
    # From the step before 1.0, the next step is the promotion.
    assert judge(CONFIG, verdict.ramp, Tally(5), (), now=120.0).action == "promote"


def test_errors_over_the_threshold_roll_back_once_enough_requests_came() -> None:
    ramp = Ramp("m:2", 1, since=100.0)
    assert judge(CONFIG, ramp, Tally(4, 4), (), now=101.0).action == "hold"
    verdict = judge(CONFIG, ramp, Tally(20, 3), (), now=101.0)
    assert (verdict.action, verdict.reason) == ("rollback", "error_rate")
    assert "3 of 20" in verdict.detail
    assert judge(CONFIG, ramp, Tally(20, 2), (), now=101.0).action == "hold"  # 0.1: not over


def test_a_drift_alarm_rolls_back_even_when_a_step_is_due() -> None:
    ramp = Ramp("m:2", 1, since=100.0)
    verdict = judge(CONFIG, ramp, Tally(50), ("income", "loan_amount"), now=500.0)
    assert (verdict.action, verdict.reason) == ("rollback", "drift")
    assert verdict.detail == "drift alarm on income, loan_amount"
    ignoring = CONFIG.model_copy(update={"rollback_on_drift": False})
    assert judge(ignoring, ramp, Tally(50), ("income",), now=500.0).action == "promote"


def test_the_ramp_serves_a_growing_sticky_share_and_never_readopts_a_rolled_back_tag() -> None:
    clock = Clock()
    ramp = CanaryRamp(CONFIG, clock)
    assert not any(ramp.routes(caller) for caller in CALLERS)  # no ramp, no canary
    ramp.begin("m:2")
    first = {caller for caller in CALLERS if ramp.routes(caller)}
    assert 20 <= len(first) <= 60  # ~10% of 400
    for _ in range(5):
        ramp.record("m:2", error=False)
    ramp.record("m:1", error=True)  # another tag's answer (an ended ramp's) counts for nothing
    clock.now += 10
    stepped = ramp.tick(())
    assert stepped is not None and stepped.action == "step" and ramp.share == 0.5
    second = {caller for caller in CALLERS if ramp.routes(caller)}
    assert first < second and 160 <= len(second) <= 240
    for _ in range(5):
        ramp.record("m:2", error=True)
    verdict = ramp.tick(())
    assert verdict is not None and verdict.action == "rollback"
    ended = ramp.end(verdict)
    assert (ended.action, ended.ramp.tag, ended.reason) == ("rollback", "m:2", "error_rate")
    assert ramp.tag is None and ramp.share == 0.0 and ramp.rejected == {"m:2"}
    assert not any(ramp.routes(caller) for caller in CALLERS)


@pytest.mark.parametrize(
    "steps", [(1.0,), (0.5, 0.9), (0.5, 0.25, 1.0), (0.0, 1.0), (0.5, 0.5, 1.0)]
)
def test_steps_must_rise_strictly_to_one(steps: tuple[float, ...]) -> None:
    with pytest.raises(ValidationError, match="steps"):
        CanaryConfig(steps=steps)


def test_a_cancelled_ramp_is_no_verdict_on_its_canary() -> None:
    ramp = CanaryRamp(CONFIG, Clock())
    ramp.begin("m:2")
    assert ramp.ramp is not None
    ramp.end(Verdict("cancel", ramp.ramp))
    assert ramp.tag is None and ramp.rejected == set()


def test_a_rollback_tagged_in_the_registry_is_read_back_by_any_worker(
    tmp_path: Path, mlflow_db_template: Path
) -> None:
    uri, _ = registry_with_versions(tmp_path, mlflow_db_template, 1)
    metadata = {"tracking_uri": uri, "registered_model": "m", "model_version": 1}
    found = registered_version(metadata)
    assert found is not None and rollback_reason(found) is None
    tag_rolled_back(found, "drift alarm on income")
    assert rollback_reason(found) == "drift alarm on income"
    assert registered_version({"tracking_uri": uri, "model_version": 1}) is None  # unregistered
