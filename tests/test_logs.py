"""Routine library chatter is dropped unless REPROKIT_LOG_LEVEL=DEBUG; everything else stays."""

from __future__ import annotations

import logging

import pytest

from reprokit.logs import configure_logging


def _emit(logger_name: str, level: int, message: str) -> None:
    logging.getLogger(logger_name).log(level, message, "raw", "ParquetDataset")


@pytest.fixture(autouse=True)
def _restore_root_level() -> object:
    root = logging.getLogger()
    before = root.level
    yield
    root.setLevel(before)


def test_kedro_dataset_lines_and_mlflow_pip_warning_are_dropped_at_info(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "INFO")
    _emit("kedro.io.data_catalog", logging.INFO, "Loading data from %s (%s)...")
    _emit("kedro.runner.sequential_runner", logging.INFO, "Using synchronous mode %s %s")
    _emit("mlflow.utils.environment", logging.WARNING, "Failed to resolve installed pip version")
    _emit("feast.infra.registry.registry", logging.INFO, "Registry cache expired, so refreshing")
    _emit("kedro.io.data_catalog", logging.WARNING, "Something real about %s (%s)")
    err = capsys.readouterr().err
    assert "Loading data" not in err
    assert "synchronous" not in err
    assert "pip version" not in err
    assert "Registry cache" not in err
    assert "Something real about raw" in err


def test_debug_shows_the_routine_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "DEBUG")
    configure_logging("json", "DEBUG")  # idempotent: one filter per logger, not two
    _emit("kedro.io.data_catalog", logging.INFO, "Saving data to %s (%s)...")
    assert "Saving data to raw" in capsys.readouterr().err
    assert len(logging.getLogger("kedro.io.data_catalog").filters) == 1
