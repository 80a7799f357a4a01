"""The retraining loop's pure decisions: whether to retrain, how the batch meets the raw
data, what the registry's state after the pipeline means, and the judgement on held-out rows."""

from __future__ import annotations

import pandas as pd
import pytest

from reprokit.retrain.decision import (
    combine,
    holdout,
    judge_on_holdout,
    outcome,
    should_retrain,
)
from reprokit.tracking.promotion import PromotionRule

AUC = PromotionRule("roc_auc", "maximize")


@pytest.mark.parametrize(
    ("status", "if_drift", "expected"),
    [("alarm", True, True), ("ok", True, False), ("ok", False, True), ("alarm", False, True)],
)
def test_retrains_unless_asked_for_drift_and_none_found(
    status: str, if_drift: bool, expected: bool
) -> None:
    assert should_retrain(status, if_drift) is expected


def test_append_keeps_the_raw_columns_order_and_replace_takes_the_batch() -> None:
    raw = pd.DataFrame({"id": [1, 2], "x": [0.1, 0.2]})
    batch = pd.DataFrame({"x": [0.3], "id": [3]}, index=[7])

    appended = combine(raw, batch, "append")
    replaced = combine(raw, batch, "replace")

    assert appended.to_dict("list") == {"id": [1, 2, 3], "x": [0.1, 0.2, 0.3]}
    assert list(appended.index) == [0, 1, 2]
    assert replaced.to_dict("list") == {"x": [0.3], "id": [3]}
    assert combine(None, batch, "append").to_dict("list") == {"x": [0.3], "id": [3]}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"champion_after": "2"}, "promoted_by_rule"),
        ({"version": None}, "no_model"),
        ({"gate": "failed"}, "gate_failed"),
        ({"version": "1"}, "unchanged"),
        ({"refused": True}, "rejudge"),
        ({}, "kept_by_rule"),
        # No champion to judge against: the rule's refusal stands.
        ({"refused": True, "champion_before": None, "champion_after": None}, "kept_by_rule"),
        # A canary rolled it back: never promoted, even when the rule moved `champion`.
        ({"rolled_back": True, "champion_after": "2"}, "rolled_back"),
        ({"rolled_back": True, "refused": True}, "rolled_back"),
        ({"rolled_back": True, "version": "1"}, "unchanged"),  # it holds `champion` already
    ],
)
def test_outcome_reads_the_registry_before_and_after_the_run(
    kwargs: dict[str, object], expected: str
) -> None:
    state: dict[str, object] = {
        "version": "2",
        "gate": "passed",
        "champion_before": "1",
        "champion_after": "1",
        "refused": False,
        "rolled_back": False,
    }
    assert outcome(**{**state, **kwargs}) == expected  # type: ignore[arg-type]


def test_holdout_is_the_batchs_new_rows_in_the_test_split() -> None:
    test = pd.DataFrame({"id": [1, 5, 6, 9], "y": [0, 1, 0, 1]})
    batch_ids = pd.Series([5, 6, 7, 8])
    # 6 was in the raw data before (a replace that repeats a row): the champion may have
    # trained on it. 1 is an old row the reshuffled split moved into the test split.
    previous = pd.Series([1, 2, 6])

    assert holdout(test, "id", batch_ids, previous)["id"].tolist() == [5]
    assert holdout(test, "id", batch_ids, None)["id"].tolist() == [5, 6]


def _judge(challenger: float, champion: float, same_evaluation: bool = True) -> str:
    judgement = judge_on_holdout(
        version="2",
        champion="1",
        challenger_value=challenger,
        champion_value=champion,
        same_evaluation=same_evaluation,
        rows=300,
        rule=AUC,
    )
    return f"{judgement.decision.action}: {judgement.decision.reason}"


def test_the_rule_judges_both_models_on_the_held_out_rows() -> None:
    assert _judge(0.74, 0.70).startswith(
        "promote: promotion rule on 300 held-out rows of the batch: roc_auc 0.74 vs champion v1 0.7"
    )
    # A worse or an equal model changes nothing.
    assert _judge(0.69, 0.70).startswith("keep:")
    assert _judge(0.70, 0.70).startswith("keep:")
    assert _judge(0.9, 0.7, same_evaluation=False).startswith(
        "refuse: champion v1 was evaluated with another evaluation config"
    )
