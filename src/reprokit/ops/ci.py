"""The pull request's model report, as pure functions: DVC's diffs in, markdown and verdicts out.

`reprokit ci report` (reprokit.ops.ci_run) runs `dvc metrics diff` and `dvc plots diff`
against the base and hands their JSON here. Two verdicts decide the exit code: the quality
gate on the head's metrics (the gate the pipeline applies, `check_quality_gate`) and a
regression check of the promotion rule's metric against the base, beyond the rule's
`min_improvement`. What the promotion rule itself would say (`decide`, the rule
`dvc repro`'s track stage applies on main) is reported, never re-implemented here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reprokit.errors import QualityGateError, ReprokitError
from reprokit.nodes.evaluate import check_quality_gate
from reprokit.tracking.promotion import REFUSE, Candidate, Decision, PromotionRule, decide


class ModelCheckError(ReprokitError):
    """The pull request's model fails the quality gate or regresses beyond the margin."""


@dataclass(frozen=True)
class MetricRow:
    """One metric of one metrics file, at the base and at the head (None: absent there)."""

    path: str
    name: str
    base: float | None
    head: float | None

    @property
    def delta(self) -> float | None:
        return None if self.base is None or self.head is None else self.head - self.base


@dataclass(frozen=True)
class Verdict:
    passed: bool
    text: str


@dataclass(frozen=True)
class Side:
    """What the promotion rule compares of one side (base or head): where its value of the
    rule's metric comes from must be the same test split and evaluation config."""

    ref: str
    test_split_md5: str | None
    evaluation_hash: str | None


@dataclass(frozen=True)
class Report:
    base: str
    rows: list[MetricRow]
    gate: Verdict
    regression: Verdict
    promotion: Decision
    plots: dict[str, list[str]]
    plots_html: str | None
    # Plots DVC could not load at a revision (an image output whose cache is not here).
    plot_errors: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        return [verdict.text for verdict in (self.gate, self.regression) if not verdict.passed]


def _number(value: Any) -> float | None:
    # bool is an int: a metric file's `true` is no number to compare.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def metric_rows(diff: Mapping[str, Any]) -> list[MetricRow]:
    """`dvc metrics diff --json --all` -> one row per file and metric, sorted.

    DVC gives `{path: {metric: {"old": .., "new": .., "diff": ..}}}`; a metric absent on one
    side has `null` there. Non-numeric values are left out: they have no delta or verdict.
    """
    rows = []
    for path, metrics in sorted(diff.items()):
        if not isinstance(metrics, Mapping):
            continue
        for name, values in sorted(metrics.items()):
            if not isinstance(values, Mapping):
                continue
            base, head = _number(values.get("old")), _number(values.get("new"))
            if base is None and head is None:
                continue
            rows.append(MetricRow(path=path, name=name, base=base, head=head))
    return rows


def side_values(rows: Iterable[MetricRow], path: str, head: bool) -> dict[str, float]:
    """The metrics of `path` at the head (`head`) or at the base."""
    values = {row.name: row.head if head else row.base for row in rows if row.path == path}
    return {name: value for name, value in values.items() if value is not None}


def gate_verdict(
    metrics: Mapping[str, float], gate: Mapping[str, Mapping[str, float | None]]
) -> Verdict:
    """The pipeline's own quality gate on the head's metrics."""
    if not gate:
        return Verdict(True, "no quality gate declared (`evaluation.gate` is empty)")
    try:
        check_quality_gate(metrics, gate)
    except QualityGateError as error:
        return Verdict(False, str(error))
    return Verdict(True, f"every bound met ({', '.join(sorted(gate))})")


def regression_verdict(
    base: float | None, head: float | None, rule: PromotionRule, promotion: Decision
) -> Verdict:
    """Fails when the rule's metric is worse at the head than at the base by more than the
    rule's `min_improvement`: a change the rule would not promote is fine, one it would
    count as a loss beyond its own margin is not.

    `promotion`: the rule's decision between them; when it refuses to compare them (another
    test split or evaluation config), neither does this check.
    """
    metric, margin = rule.metric, rule.min_improvement
    if head is None:
        return Verdict(False, f"{metric}: the head's metrics do not have it")
    if base is None:
        return Verdict(True, f"{metric}: no base value to compare with (new metric)")
    if promotion.action == REFUSE:
        return Verdict(True, f"{metric}: not judged, {promotion.reason}")
    gain = head - base if rule.direction == "maximize" else base - head
    comparison = (
        f"{metric} {head:.6g} vs base {base:.6g} ({rule.direction}, change {head - base:+.6g}, "
        f"margin {margin})"
    )
    if gain < -margin:
        return Verdict(False, f"{comparison}: regressed beyond the promotion rule's margin")
    return Verdict(True, comparison)


def promotion_decision(
    rows: Iterable[MetricRow], path: str, rule: PromotionRule, base: Side, head: Side
) -> Decision:
    """What the promotion rule would decide between the head's model and the base's one."""
    listed = [row for row in rows if row.path == path and row.name == rule.metric]
    row = listed[0] if listed else MetricRow(path, rule.metric, None, None)

    def candidate(side: Side, value: float | None) -> Candidate:
        return Candidate(side.ref, value, side.test_split_md5, side.evaluation_hash)

    champion = None if row.base is None else candidate(base, row.base)
    decision = decide(candidate(head, row.head), champion, rule)
    # The rule names registry versions (`v3`); here the two sides are git revisions.
    reason = decision.reason.replace(f"v{base.ref}", base.ref).replace(f"v{head.ref}", head.ref)
    return Decision(decision.action, reason)


def locked_md5(lock: Mapping[str, Any], path: str) -> str | None:
    """The md5 `dvc.lock` records for output `path` of any stage."""
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("path") == path:
                md5 = out.get("md5")
                return str(md5) if md5 else None
    return None


def plot_revisions(plots: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, list[str]]:
    """`dvc plots diff --json` -> plot name -> the revisions it has data for, each named by
    `labels` when it has one (DVC says `workspace` for the head)."""
    revisions: dict[str, list[str]] = {}
    for name, renders in sorted((plots.get("data") or {}).items()):
        seen = {rev for render in renders for rev in render.get("revisions") or []}
        revisions[name] = sorted(labels.get(rev, rev) for rev in seen)
    return revisions


def plot_errors(plots: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    """The plots `dvc plots diff --json` could not load, with the revision and why."""
    return [
        f"{error.get('name')} at {labels.get(error.get('rev', ''), error.get('rev'))}: "
        f"{error.get('type')}"
        for error in plots.get("errors") or []
    ]


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _delta(row: MetricRow) -> str:
    delta = row.delta
    if delta is None:
        return "new" if row.base is None else "removed"
    return "0" if delta == 0 else f"{delta:+.6g}"


def _mark(verdict: Verdict) -> str:
    return "passed" if verdict.passed else "**FAILED**"


def render_markdown(report: Report) -> str:
    """The report: metrics base -> head, the verdicts, the plots."""
    lines = [
        f"## Model report: `{report.base}` (base) → head",
        "",
        "| file | metric | base | head | change |",
        "|---|---|---:|---:|---:|",
        *(
            f"| `{row.path}` | {row.name} | {_value(row.base)} | {_value(row.head)} "
            f"| {_delta(row)} |"
            for row in report.rows
        ),
        "",
        f"- **Quality gate**: {_mark(report.gate)}: {report.gate.text}",
        f"- **Regression check**: {_mark(report.regression)}: {report.regression.text}",
        f"- **Promotion rule** (on main it would {report.promotion.action}): "
        f"{report.promotion.reason}",
    ]
    if not report.rows:
        lines[4:4] = ["| - | no metrics at either revision | | | |"]
    if report.plots:
        where = f" (`{report.plots_html}`)" if report.plots_html else ""
        lines += ["", f"**Plots**{where}:", ""]
        lines += [f"- {name}: {', '.join(revs)}" for name, revs in report.plots.items()]
    if report.plot_errors:
        # Image plots are DVC-cached outputs: a CI clone has the base's only from a remote.
        lines += ["", "Not loaded (`dvc pull` from a DVC remote provides them):", ""]
        lines += [f"- {error}" for error in report.plot_errors]
    verdict = "FAILED: " + "; ".join(report.failures) if report.failures else "passed"
    return "\n".join([*lines, "", f"**Result**: {verdict}", ""])
