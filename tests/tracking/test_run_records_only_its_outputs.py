"""A run records only what its own execution produced.

One project copy, two `reprokit run` executions:

1. `reprokit run model.num_leaves=15`  -> trains, registers v1 with the sha256 of the bytes it wrote
2. `reprokit run -p prepare`          -> another config, only the prepare pipeline: the model and
                                          metrics in data/ are run 1's, so this run logs neither,
                                          registers nothing and says it trained no model
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support import (
    Executed,
    artifact_bytes,
    executions_in_copy,
    sha256,
    versions,
)

from reprokit.core.cost import StageCost, cost_metrics

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tracking-outputs")]

MODEL_FILE = "data/06_models/model.txt"
COST = StageCost(wall_s=1.0, cpu_s=1.0, peak_rss_mb=1.0)  # any: only the names are compared


@dataclass
class Scenario:
    project: Path
    client: Any
    steps: dict[str, Executed]
    model_bytes: bytes  # data/06_models/model.txt right after run 1


@pytest.fixture(scope="module")
def scenario(
    tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path
) -> Iterator[Scenario]:
    execute = executions_in_copy(tmp_path_factory.mktemp("outputs"), mlflow_db_template)
    execute("full", ["reprokit", "run", "model.num_leaves=15"])
    model_bytes = (execute.project / MODEL_FILE).read_bytes()
    execute("prepare", ["reprokit", "run", "-p", "prepare"])
    yield Scenario(execute.project, execute.client, execute.steps, model_bytes)


def test_a_partial_run_records_no_model_no_metrics_and_says_so(scenario: Scenario) -> None:
    run_ = scenario.steps["prepare"].run
    assert run_.info.status == "FINISHED"
    assert run_.data.tags["rk.model"] == "not trained by this run"
    assert run_.data.tags["rk.quality_gate"] == "not checked by this run"
    assert "rk.model_sha256" not in run_.data.tags
    assert "rk.model_version" not in run_.data.tags
    # The metrics file in data/ is run 1's: none of its numbers pose as this run's. Its own
    # timing and cost are measurements of this run.
    assert set(run_.data.metrics) == {"time.prepare_s", *cost_metrics({"prepare": COST})}
    logged = {item.path for item in scenario.client.list_artifacts(run_.info.run_id)}
    assert logged.isdisjoint({"model", "metrics", "feature_state", "reference_profile"})
    assert (scenario.project / MODEL_FILE).read_bytes() == scenario.model_bytes
    last_run = json.loads((scenario.project / ".reprokit/last_run.json").read_text())
    assert last_run["run_id"] == run_.info.run_id
    assert last_run["model_sha256"] is None


def test_a_partial_run_registers_nothing(scenario: Scenario) -> None:
    registered = versions(scenario.client)
    assert [mv.run_id for mv in registered] == [scenario.steps["full"].run.info.run_id]


def test_a_full_run_registers_the_sha256_of_the_bytes_it_wrote(scenario: Scenario) -> None:
    run_ = scenario.steps["full"].run
    written = sha256(scenario.model_bytes)
    assert run_.data.tags["rk.model"] == "trained by this run"
    assert run_.data.tags["rk.quality_gate"] == "passed"
    assert run_.data.tags["rk.model_sha256"] == written
    assert run_.data.tags["rk.model_version"] == "1"
    (version,) = versions(scenario.client)
    assert version.tags["rk.model_sha256"] == written
    assert sha256(artifact_bytes(scenario.client, run_.info.run_id, "model/model.txt")) == written
    assert "roc_auc" in run_.data.metrics
