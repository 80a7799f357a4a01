"""The model registry through real executions: versions, `challenger`, the promotion rule,
and `reprokit promote` / `reprokit models` on what the runs registered.

One project copy, four `reprokit run` executions, three registered versions:

v1  defaults                                     -> champion (first version)
v2  num_leaves=63, rule on log_loss (minimize)   -> ROC AUC a bit higher, log loss worse: kept
v3  num_leaves=7,  min_improvement=0.05          -> better, by less than the margin: kept
v4  num_leaves=7,  min_improvement=0.01          -> the same model bytes as v3: no new version;
                                                    judged again, better by more than the
                                                    margin: v3 becomes champion

then `reprokit promote 1 --reason ...` moves champion back by hand.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support import (
    MODEL,
    Executed,
    aliases,
    run,
    versions,
)
from tests.support.templates import executions_from

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tracking-registry")]

EXECUTIONS = {
    "v1": [],  # the trained template's run
    "v2": [
        "model.num_leaves=63",
        "tracking.promotion.metric=log_loss",
        "tracking.promotion.direction=minimize",
    ],
    "v3": ["model.num_leaves=7", "tracking.promotion.min_improvement=0.05"],
    "v4": ["model.num_leaves=7", "tracking.promotion.min_improvement=0.01"],
}
REASON = "roll back to the reviewed model"


@dataclass
class Scenario:
    project: Path
    client: Any
    steps: dict[str, Executed]
    aliases_after: dict[str, dict[str, str]]  # step -> aliases right after it

    def metric(self, step: str, name: str) -> float:
        return float(self.steps[step].run.data.metrics[name])


@pytest.fixture(scope="module")
def scenario(
    tmp_path_factory: pytest.TempPathFactory, trained_template: Path
) -> Iterator[Scenario]:
    # v1 (no overrides): the default `reprokit run`, trained once for the session.
    project = tmp_path_factory.mktemp("tracking-registry") / "project"
    execute = executions_from(trained_template, project, "v1")
    after: dict[str, dict[str, str]] = {"v1": aliases(execute.client)}
    for step, overrides in EXECUTIONS.items():
        if step not in execute.steps:
            execute(step, ["reprokit", "run", *overrides])
            after[step] = aliases(execute.client)
    yield Scenario(execute.project, execute.client, execute.steps, after)


REGISTERED = ("v1", "v2", "v3")  # v4 trained v3's bytes again


def test_each_new_model_is_a_new_version_and_the_same_bytes_reuse_it(scenario: Scenario) -> None:
    registered = versions(scenario.client)
    assert [int(mv.version) for mv in registered] == [1, 2, 3]
    assert [mv.run_id for mv in registered] == [
        scenario.steps[step].run.info.run_id for step in REGISTERED
    ]
    tags = {step: scenario.steps[step].run.data.tags for step in EXECUTIONS}
    assert tags["v4"]["rk.model_sha256"] == tags["v3"]["rk.model_sha256"]
    assert tags["v4"]["rk.model_version"] == "3"
    for mv in registered:
        run_ = scenario.client.get_run(mv.run_id)
        assert mv.tags["rk.fingerprint"] == run_.data.tags["rk.fingerprint"]
        assert mv.tags["rk.model_sha256"] == run_.data.tags["rk.model_sha256"]


def test_challenger_is_always_the_newest_version(scenario: Scenario) -> None:
    for number, step in enumerate(REGISTERED, start=1):
        assert scenario.aliases_after[step]["challenger"] == str(number), step
    assert scenario.aliases_after["v4"]["challenger"] == "3"


def test_the_first_version_becomes_champion(scenario: Scenario) -> None:
    assert scenario.aliases_after["v1"]["champion"] == "1"
    tags = scenario.client.get_model_version(MODEL, "1").tags
    assert tags["rk.promotion"] == "first registered version"


def test_the_rule_uses_its_metric_and_direction(scenario: Scenario) -> None:
    # The scenario needs v2 better on ROC AUC but worse on log loss than v1.
    assert scenario.metric("v2", "roc_auc") > scenario.metric("v1", "roc_auc")
    assert scenario.metric("v2", "log_loss") > scenario.metric("v1", "log_loss")
    assert scenario.aliases_after["v2"]["champion"] == "1"


def test_a_gain_below_min_improvement_keeps_the_champion(scenario: Scenario) -> None:
    gain = scenario.metric("v3", "roc_auc") - scenario.metric("v1", "roc_auc")
    assert 0.01 < gain < 0.05, f"scenario needs a ROC AUC gain in (0.01, 0.05), got {gain}"
    assert scenario.aliases_after["v3"]["champion"] == "1"


def test_a_gain_above_min_improvement_moves_the_champion(scenario: Scenario) -> None:
    assert scenario.aliases_after["v4"]["champion"] == "3"
    reason = scenario.client.get_model_version(MODEL, "3").tags["rk.promotion"]
    assert reason.startswith("promotion rule: roc_auc ")
    assert "vs champion v1" in reason


def test_promote_moves_the_champion_by_hand_with_reason_and_user(scenario: Scenario) -> None:
    result = run(["reprokit", "promote", "1", "--reason", REASON], scenario.project)
    assert "champion v1 (was v3)" in result.stdout
    assert aliases(scenario.client) == {"champion": "1", "challenger": "3"}
    tags = scenario.client.get_model_version(MODEL, "1").tags
    assert tags["rk.promotion"] == REASON
    assert tags["rk.promoted_by"] == getpass.getuser()
    assert tags["rk.previous_champion"] == "3"


def test_promote_refuses_an_unknown_version(scenario: Scenario) -> None:
    before = aliases(scenario.client)
    result = run(["reprokit", "promote", "7", "--reason", "x"], scenario.project, check=False)
    assert result.returncode == 1
    assert "has no version '7'; versions: 1, 2, 3" in result.stderr
    assert aliases(scenario.client) == before


def test_models_lists_every_version_with_its_run_and_metric(scenario: Scenario) -> None:
    listed = json.loads(run(["reprokit", "models", "--json"], scenario.project).stdout)
    rows = {row["version"]: row for row in listed["versions"]}
    assert sorted(rows) == [1, 2, 3]
    for number, step in enumerate(REGISTERED, start=1):
        executed = scenario.steps[step].run
        assert rows[number]["run_id"] == executed.info.run_id
        assert rows[number]["fingerprint"] == executed.data.tags["rk.fingerprint"]
        assert rows[number]["metric"] == pytest.approx(scenario.metric(step, "roc_auc"))
    assert "challenger" in rows[3]["aliases"]
