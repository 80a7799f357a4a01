"""What a running service logs at info is news, not its routine: the champion refresh that
finds the same model again, and a rolled-back champion refused without a canary
configured, stay below info."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from reprokit.config.models import CanaryConfig
from reprokit.logs import get_logger
from reprokit.serving import canary, store
from reprokit.serving.canary import CanaryRamp
from reprokit.serving.store import ProjectIdentity, log_resolved


@pytest.fixture(autouse=True)
def uncached_loggers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fresh module loggers: `configure_logging` caches a logger on its first use, and a
    logger another test used first would bypass `capture_logs`."""
    for module in (canary, store):
        monkeypatch.setattr(module, "log", get_logger(module.__name__))


def levels(logs: list[dict[str, object]], event: str) -> list[object]:
    return [entry["log_level"] for entry in logs if entry["event"] == event]


def test_a_resolution_is_info_at_start_up_and_on_a_change_only(tmp_path: Path) -> None:
    project = ProjectIdentity("p", "d", tmp_path, instance="i")
    other = ProjectIdentity("p", "d", tmp_path / "copy", instance="j")
    with capture_logs() as logs:
        log_resolved(project, "p-d:v1", champion=True)  # start-up
        log_resolved(project, "p-d:v1", champion=True)  # refreshes: the same model
        log_resolved(project, "p-d:v1", champion=True)
        log_resolved(project, "p-d:v2", champion=True)  # a promotion reached it
        log_resolved(other, "p-d:v2", champion=True)  # another project's first
    assert levels(logs, "serving.model_resolved") == ["info", "debug", "debug", "info", "info"]


def test_a_refused_champion_is_a_warning_only_with_a_canary_configured() -> None:
    for enabled, expected in ((True, "warning"), (False, "debug")):
        ramp = CanaryRamp(CanaryConfig(enabled=enabled), clock=lambda: 0.0)
        with capture_logs() as logs:
            ramp.refuse("m:3", "error rate 0.400 > 0.05")
        assert ramp.rejected == {"m:3"}  # refused either way
        assert levels(logs, "serving.canary_not_adopted") == [expected]
