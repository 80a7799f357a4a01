"""Promotion on equal terms, and one registered version per model.

The decision (src/reprokit/tracking/promotion.py) is a pure function, tested directly.
Then one project copy with the real MLflow store:

1. `reprokit run`                               -> v1, champion (first version)
2. `reprokit run split.test_size=0.3 ...`       -> v2, a better ROC AUC on another test split:
                                                   refused, v1 stays champion

The same bytes reusing their version (from `reprokit run`, `kedro run` and `dvc repro`) is
tests/tracking/test_tracking_dvc.py's and test_registry.py's; whether a reused version is
judged again is `rejudges_reused`, tested here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support import (
    MODEL,
    PROJECT_ROOT,
    Executed,
    aliases,
    versions,
)
from tests.support.templates import executions_from

from reprokit.config.compose import workspace_from_conf
from reprokit.tracking.promotion import Candidate, PromotionRule, decide, rejudges_reused
from reprokit.tracking.store import evaluation_hash, promotion_rule

RULE = PromotionRule("roc_auc", "maximize", min_improvement=0.01)
SPLIT, OTHER_SPLIT = "a" * 32, "b" * 32
EVALUATION, OTHER_EVALUATION = "e" * 64, "f" * 64


def candidate(
    version: str,
    value: float | None,
    split: str | None = SPLIT,
    evaluation: str | None = EVALUATION,
) -> Candidate:
    return Candidate(version, value, split, evaluation)


# --- the decision ---------------------------------------------------------------------------


def test_the_first_evaluated_version_is_promoted() -> None:
    decision = decide(candidate("1", 0.7), None, RULE)
    assert (decision.action, decision.reason) == ("promote", "first registered version")


def test_a_version_its_run_did_not_evaluate_is_refused() -> None:
    decision = decide(candidate("2", None), candidate("1", 0.7), RULE)
    assert decision.action == "refuse"
    assert decision.reason == "v2 has no roc_auc: its run did not evaluate it"
    assert decide(candidate("1", None), None, RULE).action == "refuse"


@pytest.mark.parametrize(
    ("challenger", "named"),
    [
        (candidate("2", 0.9, split=OTHER_SPLIT), "test split (md5): v2 bbbbbbbbbbbb"),
        (candidate("2", 0.9, evaluation=OTHER_EVALUATION), "evaluation config (hash): v2 ffff"),
        (candidate("2", 0.9, split=None), "v2 has no recorded test split"),
    ],
)
def test_metrics_from_other_test_data_are_not_compared(challenger: Candidate, named: str) -> None:
    decision = decide(challenger, candidate("1", 0.7), RULE)
    assert decision.action == "refuse"
    assert decision.reason.startswith("not comparable with champion v1: ")
    assert named in decision.reason
    assert "reprokit promote" in decision.reason


def test_a_champion_without_recorded_test_data_is_not_compared() -> None:
    decision = decide(candidate("2", 0.9), candidate("1", 0.7, split=None), RULE)
    assert decision.action == "refuse"
    assert "v1 has no recorded test split (md5)" in decision.reason


@pytest.mark.parametrize(
    ("value", "action"),
    [(0.70, "keep"), (0.705, "keep"), (0.69, "keep"), (0.72, "promote")],
)
def test_on_equal_terms_the_rule_and_its_margin_decide(value: float, action: str) -> None:
    decision = decide(candidate("2", value), candidate("1", 0.70), RULE)
    assert decision.action == action
    assert decision.reason.startswith(f"promotion rule: roc_auc {value:.6g} vs champion v1 0.7 ")


def test_a_minimized_metric_promotes_the_lower_value() -> None:
    rule = PromotionRule("log_loss", "minimize")
    assert decide(candidate("2", 0.30), candidate("1", 0.35), rule).action == "promote"
    assert decide(candidate("2", 0.40), candidate("1", 0.35), rule).action == "keep"


def test_a_champion_without_the_metric_is_not_compared() -> None:
    decision = decide(candidate("2", 0.9), candidate("1", None), RULE)
    assert decision.action == "refuse"
    assert decision.reason.startswith("champion v1 has no roc_auc; to replace v1 anyway: ")


@pytest.mark.parametrize(
    ("challenger", "champion", "missing"),
    [
        (candidate("2", 0.9, evaluation=None), candidate("1", 0.7), "v2"),
        (candidate("2", 0.9), candidate("1", 0.7, evaluation=None), "v1"),
    ],
)
def test_a_version_without_an_evaluation_hash_is_not_compared(
    challenger: Candidate, champion: Candidate, missing: str
) -> None:
    decision = decide(challenger, champion, RULE)
    assert decision.action == "refuse"
    assert f"{missing} has no recorded evaluation config (hash)" in decision.reason


@pytest.mark.parametrize(
    ("champion", "evaluated", "judged"),
    [
        (None, True, True),  # no champion yet: the reused version may take it
        ("1", True, True),  # another version holds champion: judge on this run's metrics
        ("3", True, False),  # it already is champion
        ("1", False, False),  # this run did not evaluate: nothing to judge with
        (None, False, False),
    ],
)
def test_a_reused_version_is_judged_again_only_with_new_metrics_and_not_as_champion(
    champion: str | None, evaluated: bool, judged: bool
) -> None:
    assert rejudges_reused("3", champion, evaluated) is judged


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ((), PromotionRule("roc_auc", "maximize", 0.0)),
        (("experiment=diabetes",), PromotionRule("rmse", "minimize", 0.0)),
        (
            ("tracking.promotion.direction=minimize", "tracking.promotion.min_improvement=0.02"),
            PromotionRule("roc_auc", "minimize", 0.02),
        ),
        (
            ("tracking.promotion.metric=accuracy", "tracking.promotion.direction=minimize"),
            PromotionRule("accuracy", "minimize", 0.0),
        ),
        # Before: a named metric without a direction was maximized, log loss and RMSE too.
        (("tracking.promotion.metric=log_loss",), PromotionRule("log_loss", "minimize", 0.0)),
        (
            ("experiment=diabetes", "tracking.promotion.metric=mae"),
            PromotionRule("mae", "minimize", 0.0),
        ),
        (
            ("experiment=diabetes", "tracking.promotion.metric=r2"),
            PromotionRule("r2", "maximize", 0.0),
        ),
    ],
)
def test_the_rule_comes_from_the_task_and_tracking_promotion(
    overrides: tuple[str, ...], expected: PromotionRule
) -> None:
    config = workspace_from_conf(PROJECT_ROOT, list(overrides)).config
    assert promotion_rule(config) == expected


# --- the real registry ------------------------------------------------------------------------


@dataclass
class Scenario:
    client: Any
    steps: dict[str, Executed]


def test_the_evaluation_hash_ignores_every_gate_but_not_the_threshold() -> None:
    params = workspace_from_conf(PROJECT_ROOT).params
    stricter = workspace_from_conf(
        PROJECT_ROOT, ["evaluation.gates.multiclass.roc_auc_ovr.min=0.9"]
    ).params
    other_threshold = workspace_from_conf(PROJECT_ROOT, ["evaluation.threshold=0.4"]).params
    assert evaluation_hash(stricter) == evaluation_hash(params)
    assert evaluation_hash(other_threshold) != evaluation_hash(params)


@pytest.fixture(scope="module")
def scenario(
    tmp_path_factory: pytest.TempPathFactory, trained_template: Path
) -> Iterator[Scenario]:
    # "first": the default `reprokit run`, trained once for the session.
    execute = executions_from(
        trained_template, tmp_path_factory.mktemp("promotion") / "project", "first"
    )
    execute("other_split", ["reprokit", "run", "split.test_size=0.3", "model.num_leaves=7"])
    yield Scenario(execute.client, execute.steps)


@pytest.mark.slow
def test_a_better_metric_on_another_test_split_does_not_take_champion(
    scenario: Scenario,
) -> None:
    first, other = scenario.steps["first"].run, scenario.steps["other_split"].run
    assert other.data.metrics["roc_auc"] > first.data.metrics["roc_auc"]
    assert other.data.tags["rk.test_md5"] != first.data.tags["rk.test_md5"]
    assert other.data.tags["rk.eval_hash"] == first.data.tags["rk.eval_hash"]
    assert [mv.run_id for mv in versions(scenario.client)] == [first.info.run_id, other.info.run_id]
    assert aliases(scenario.client) == {"champion": "1", "challenger": "2"}
    refused = scenario.client.get_model_version(MODEL, "2").tags["rk.not_promoted"]
    assert refused.startswith("not comparable with champion v1: evaluated on another test split")
