"""The environment every reprokit process sets: telemetry off, OpenMP waiting passively,
Kedro logging through reprokit's; a value the user set explicitly wins."""

from __future__ import annotations

import os

import pytest

from reprokit.core.env import KEDRO_LOGGING_CONFIG, TELEMETRY_OFF, disable_telemetry

VARIABLES = [*TELEMETRY_OFF, "OMP_WAIT_POLICY", "KEDRO_LOGGING_CONFIG"]


def test_every_tool_of_the_stack_has_its_telemetry_variable() -> None:
    assert set(TELEMETRY_OFF) == {
        "KEDRO_DISABLE_TELEMETRY",
        "DO_NOT_TRACK",
        "DVC_NO_ANALYTICS",
        "BENTOML_DO_NOT_TRACK",
        "MLFLOW_DISABLE_TELEMETRY",
        # Feast's OpenLineage events (0.67 has no usage telemetry left).
        "FEAST_OPENLINEAGE_ENABLED",
    }
    assert KEDRO_LOGGING_CONFIG.is_file()


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """None of the variables set; monkeypatch restores them all after the test."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_unset_variables_are_set(unset: pytest.MonkeyPatch) -> None:
    disable_telemetry()
    assert {name: os.environ[name] for name in TELEMETRY_OFF} == TELEMETRY_OFF
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert os.environ["KEDRO_LOGGING_CONFIG"] == str(KEDRO_LOGGING_CONFIG)


def test_a_value_the_user_set_wins(unset: pytest.MonkeyPatch) -> None:
    unset.setenv("DO_NOT_TRACK", "false")
    unset.setenv("OMP_WAIT_POLICY", "ACTIVE")
    disable_telemetry()
    assert (os.environ["DO_NOT_TRACK"], os.environ["OMP_WAIT_POLICY"]) == ("false", "ACTIVE")
