"""Registering a model must not leave MLflow's tracking URI in the process environment:
`mlflow.set_tracking_uri` exports MLFLOW_TRACKING_URI, which `tracking_uri()` reads first, so
a later execution in the process (and every command it started) recorded into the wrong
store. Seen as a suite failure: a test's `reprokit run` recorded into another test's store."""

from __future__ import annotations

import os

import mlflow
import pytest

from reprokit.tracking.store import TRACKING_URI_ENV, fluent_tracking_uri


def test_the_variable_is_unset_again_after_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRACKING_URI_ENV, raising=False)
    with fluent_tracking_uri("sqlite:////tmp/a.db"):
        assert mlflow.get_tracking_uri() == "sqlite:////tmp/a.db"
        assert os.environ[TRACKING_URI_ENV] == "sqlite:////tmp/a.db"
    assert TRACKING_URI_ENV not in os.environ
    # Not pinned to a value resolved inside the block: MLflow reads the variable again.
    assert not mlflow.is_tracking_uri_set()
    monkeypatch.setenv(TRACKING_URI_ENV, "sqlite:////tmp/later.db")
    assert mlflow.get_tracking_uri() == "sqlite:////tmp/later.db"


def test_a_variable_the_user_set_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TRACKING_URI_ENV, "http://127.0.0.1:5000")
    with fluent_tracking_uri("sqlite:////tmp/b.db"):
        assert mlflow.get_tracking_uri() == "sqlite:////tmp/b.db"
    assert os.environ[TRACKING_URI_ENV] == "http://127.0.0.1:5000"
    assert mlflow.get_tracking_uri() == "http://127.0.0.1:5000"
