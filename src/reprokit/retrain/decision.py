"""The retraining loop's decisions as pure functions: whether to retrain, how the batch meets
the raw data, and what the registry's state after the pipeline means.

No I/O here: `reprokit.retrain.loop` reads the registry and the runs and applies what these
functions decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from reprokit.tracking.promotion import Candidate, Decision, PromotionRule, decide

Mode = Literal["append", "replace"]
# What the pipeline's run left in the registry, as the loop reads it.
Outcome = Literal[
    "promoted_by_rule",  # the `track` stage's promotion rule moved `champion`
    "no_model",  # the run registered no model (nothing trained, or tracking off)
    "gate_failed",  # the model missed its quality gate: never a candidate
    "unchanged",  # the same model bytes as the champion: nothing to decide
    "kept_by_rule",  # compared on equal terms and not better: champion stays
    "rejudge",  # the rule refused to compare (another test split): judge on the batch
    "rolled_back",  # a serving canary rolled this version back: never promoted again
]
NO_DRIFT = "no drift, nothing retrained"


def should_retrain(drift_status: str, if_drift: bool) -> bool:
    """Retrain unless `--if-drift` was asked for and the drift report raised no alarm."""
    return not if_drift or drift_status == "alarm"


def combine(current: pd.DataFrame | None, batch: pd.DataFrame, mode: Mode) -> pd.DataFrame:
    """The raw data after the batch: appended below the current rows (in the current
    columns' order, so the file's layout stays), or the batch alone."""
    if mode == "replace" or current is None:
        return batch.reset_index(drop=True)
    return pd.concat([current, batch[list(current.columns)]], ignore_index=True)


def outcome(
    *,
    version: str | None,
    gate: str | None,
    champion_before: str | None,
    champion_after: str | None,
    refused: bool,
    rolled_back: bool,
) -> Outcome:
    """What the pipeline's run decided, from the registry before and after it.

    `rolled_back`: the run's version carries a canary's rollback tag (the same model bytes
    register as the same version, so a retrain can come back with it): whatever the rule
    said, it is not promoted again (the loop puts `champion` back if the rule moved it).

    `refused`: the new version carries the rule's refusal (it could not be compared with the
    champion). New data brings a new test split, so a retrain on appended or replaced data
    is refused by the rule every time; the loop then judges both models on rows neither
    trained on (`holdout`).
    """
    if rolled_back and version is not None and version != champion_before:
        return "rolled_back"
    return _rule_outcome(version, gate, champion_before, champion_after, refused=refused)


def _rule_outcome(
    version: str | None,
    gate: str | None,
    champion_before: str | None,
    champion_after: str | None,
    *,
    refused: bool,
) -> Outcome:
    if version is None:
        return "no_model"
    if champion_after != champion_before and champion_after == version:
        return "promoted_by_rule"
    if gate != "passed":
        return "gate_failed"
    if version == champion_before:
        return "unchanged"
    if refused and champion_before is not None:
        return "rejudge"
    return "kept_by_rule"


def rolled_back_reason(version: str, reason: str | None, champion: str | None) -> str:
    """The decision record's reason for a version a canary rolled back."""
    kept = f"champion stays v{champion}" if champion is not None else "no champion is set"
    return (
        f"v{version} was rolled back by a serving canary ({reason or 'no reason recorded'}): "
        f"the retraining loop never promotes it again; {kept}. To serve it anyway once what "
        f"failed is fixed: `reprokit promote {version} --reason ...` (a promotion by hand "
        "clears the rollback)"
    )


def holdout(
    test: pd.DataFrame, id_column: str, batch_ids: pd.Series, previous_ids: pd.Series | None
) -> pd.DataFrame:
    """The rows both models can be judged on: the new test split's rows that came with the
    batch and were not in the raw data before it.

    The new test split alone would not do: with new data the split reshuffles, and rows the
    champion trained on land in it (its score there is inflated: 0.82 where its own test
    split gave 0.72, in a trial). The challenger never trained on its test split, and the
    champion never saw the batch's new rows."""
    keep = test[id_column].isin(batch_ids)
    if previous_ids is not None:
        keep &= ~test[id_column].isin(previous_ids)
    return test[keep].reset_index(drop=True)


@dataclass(frozen=True)
class Judgement:
    """Both models' value of the rule's metric on the new test split, and the verdict."""

    challenger: float | None
    champion: float | None
    decision: Decision


def judge_on_holdout(
    *,
    version: str,
    champion: str,
    challenger_value: float | None,
    champion_value: float | None,
    same_evaluation: bool,
    rows: int,
    rule: PromotionRule,
) -> Judgement:
    """The promotion rule applied to both models scored on the same held-out rows.

    Both values come from the same rows and, when `same_evaluation`, the same evaluation
    config, so the rule compares them on equal terms (it would refuse otherwise)."""
    if not same_evaluation:
        return Judgement(
            challenger_value,
            champion_value,
            Decision(
                "refuse",
                f"champion v{champion} was evaluated with another evaluation config than "
                f"v{version}: their metrics are not comparable; to replace it anyway: "
                "`reprokit promote VERSION --reason ...`",
            ),
        )
    terms = f"{rows} held-out rows of the batch"
    decision = decide(
        Candidate(version, challenger_value, terms, terms),
        Candidate(champion, champion_value, terms, terms),
        rule,
    )
    reason = decision.reason.replace("promotion rule:", f"promotion rule on {terms}:")
    return Judgement(challenger_value, champion_value, Decision(decision.action, reason))
