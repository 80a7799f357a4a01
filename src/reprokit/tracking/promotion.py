"""The promotion rule as a pure decision: does a newly registered version become champion?

Metrics are comparable only between models evaluated on the same test data with the same
evaluation config (threshold, calibration bins; the gate only judges metrics, it does not
shape them). A ROC AUC on a million-row test split says nothing against one on a
thousand-row split (issue 11: an ad-hoc `data.source.rows=1000000` run became champion that
way), so the rule refuses, with the reason, rather than compare them. Moving `champion`
across test sets stays possible by hand: `reprokit promote VERSION --reason ...`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Action = Literal["promote", "keep", "refuse"]
PROMOTE: Final = "promote"
KEEP: Final = "keep"
REFUSE: Final = "refuse"


@dataclass(frozen=True)
class PromotionRule:
    metric: str
    direction: Literal["maximize", "minimize"]
    min_improvement: float = 0.0


@dataclass(frozen=True)
class Candidate:
    """A registered version as the rule sees it: its run's value of the rule's metric and
    the hashes of the test split and evaluation config that value comes from."""

    version: str
    value: float | None
    test_split_md5: str | None
    evaluation_hash: str | None


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def _by_hand(champion: Candidate) -> str:
    return f"; to replace v{champion.version} anyway: `reprokit promote VERSION --reason ...`"


def _unequal_terms(challenger: Candidate, champion: Candidate) -> str | None:
    """Why the two versions' metrics cannot be compared, if they cannot."""
    for label, new, old in (
        ("test split (md5)", challenger.test_split_md5, champion.test_split_md5),
        ("evaluation config (hash)", challenger.evaluation_hash, champion.evaluation_hash),
    ):
        if new is None or old is None:
            missing = challenger if new is None else champion
            return f"v{missing.version} has no recorded {label}"
        if new != old:
            return (
                f"evaluated on another {label}: v{challenger.version} {new[:12]}, "
                f"champion v{champion.version} {old[:12]}"
            )
    return None


def decide(challenger: Candidate, champion: Candidate | None, rule: PromotionRule) -> Decision:
    """Promote, keep the champion, or refuse to compare; the reason says which and why."""
    metric = rule.metric
    if challenger.value is None:
        return Decision(
            REFUSE, f"v{challenger.version} has no {metric}: its run did not evaluate it"
        )
    if champion is None:
        return Decision(PROMOTE, "first registered version")
    unequal = _unequal_terms(challenger, champion)
    if unequal is not None:
        return Decision(
            REFUSE,
            f"not comparable with champion v{champion.version}: {unequal}" + _by_hand(champion),
        )
    if champion.value is None:
        return Decision(
            REFUSE, f"champion v{champion.version} has no {metric}" + _by_hand(champion)
        )
    new, old = challenger.value, champion.value
    gain = new - old if rule.direction == "maximize" else old - new
    comparison = (
        f"{metric} {new:.6g} vs champion v{champion.version} {old:.6g} "
        f"({rule.direction}, min improvement {rule.min_improvement})"
    )
    # A tie keeps the champion: moving it to an equally good model is churn.
    if gain <= 0 or gain < rule.min_improvement:
        return Decision(KEEP, f"promotion rule: {comparison}")
    return Decision(PROMOTE, f"promotion rule: {comparison}")


def rejudges_reused(version: str, champion: str | None, evaluated: bool) -> bool:
    """Whether a version reused for the same model bytes is judged again by `decide`.

    Only with metrics this execution produced (`evaluated`): a run that did not evaluate
    has nothing to judge with. Never when `version` already holds champion: promoting it
    again would only rewrite its recorded reason.
    """
    return evaluated and champion != version
