"""The pure parts of the CI model steps: DVC's metrics diff -> table, the verdicts, the
report's text, and the image a deployment runs."""

from __future__ import annotations

import pytest
import yaml
from tests.support import PROJECT_ROOT

from reprokit.ops.ci import (
    MetricRow,
    Report,
    Side,
    Verdict,
    gate_verdict,
    locked_md5,
    metric_rows,
    plot_errors,
    plot_revisions,
    promotion_decision,
    regression_verdict,
    render_markdown,
)
from reprokit.ops.ci_run import image_for, repository_of, short_ref
from reprokit.tracking.promotion import Decision, PromotionRule

METRICS = "data/08_reporting/metrics.json"
# The shape `dvc metrics diff --json --all` prints (DVC 3.67).
DIFF = {
    METRICS: {
        "roc_auc": {"old": 0.76, "new": 0.74, "diff": -0.02},
        "log_loss": {"old": 0.38, "new": 0.37, "diff": -0.01},
        "brier": {"old": None, "new": 0.12, "diff": None},
        "note": {"old": "a", "new": "b"},
    }
}
AUC = PromotionRule("roc_auc", "maximize", 0.01)
SAME = Side("main", "split-md5", "eval-hash")
HEAD = Side("head", "split-md5", "eval-hash")


def test_the_diff_becomes_rows_with_deltas_and_numbers_only() -> None:
    rows = {row.name: row for row in metric_rows(DIFF)}
    assert sorted(rows) == ["brier", "log_loss", "roc_auc"]  # the string metric has no delta
    assert rows["roc_auc"].delta == pytest.approx(-0.02)
    assert rows["brier"] == MetricRow(METRICS, "brier", None, 0.12)
    assert rows["brier"].delta is None


@pytest.mark.parametrize(
    ("base", "head", "rule", "passed"),
    [
        (0.76, 0.755, AUC, True),  # worse, within the margin
        (0.76, 0.74, AUC, False),  # worse beyond it
        (0.76, 0.80, AUC, True),
        (0.30, 0.33, PromotionRule("log_loss", "minimize", 0.0), False),  # a loss went up
        (0.30, 0.30, PromotionRule("log_loss", "minimize", 0.0), True),  # a tie is no loss
    ],
)
def test_a_regression_fails_only_beyond_the_promotion_rules_margin(
    base: float, head: float, rule: PromotionRule, passed: bool
) -> None:
    decision = Decision("keep", "")
    verdict = regression_verdict(base, head, rule, decision)
    assert verdict.passed is passed
    assert verdict.text.startswith(rule.metric)
    if not passed:
        assert "regressed beyond the promotion rule's margin" in verdict.text


def test_no_regression_is_judged_when_the_rule_refuses_to_compare() -> None:
    rows = metric_rows(DIFF)
    other_split = Side("head", "another-md5", "eval-hash")
    decision = promotion_decision(rows, METRICS, AUC, SAME, other_split)
    assert decision.action == "refuse"
    assert "test split" in decision.reason
    verdict = regression_verdict(0.76, 0.5, AUC, decision)
    assert verdict.passed
    assert "not judged" in verdict.text
    # A head without the rule's metric is a failure, whatever the rule says.
    assert not regression_verdict(0.76, None, AUC, decision).passed


def test_the_promotion_decision_names_git_revisions_not_versions() -> None:
    better = {METRICS: {"roc_auc": {"old": 0.70, "new": 0.75}}}
    decision = promotion_decision(metric_rows(better), METRICS, AUC, SAME, HEAD)
    assert decision.action == "promote"
    assert "vs champion main 0.7 " in decision.reason
    first = promotion_decision(
        metric_rows(DIFF), METRICS, PromotionRule("brier", "minimize"), SAME, HEAD
    )
    assert first.action == "promote"  # no base value: the first model


def test_the_gate_verdict_is_the_pipelines_gate() -> None:
    failed = gate_verdict({"roc_auc": 0.65}, {"roc_auc": {"min": 0.7}})
    assert not failed.passed
    assert "roc_auc = 0.65 is below min 0.7" in failed.text
    assert gate_verdict({"roc_auc": 0.75}, {"roc_auc": {"min": 0.7}}).passed
    assert not gate_verdict({}, {"roc_auc": {"min": 0.7}}).passed  # a gate on a missing metric
    assert gate_verdict({}, {}).passed


def test_the_markdown_has_the_table_the_verdicts_and_the_result() -> None:
    report = Report(
        base="main",
        rows=metric_rows(DIFF),
        gate=Verdict(True, "every bound met (roc_auc)"),
        regression=Verdict(False, "roc_auc 0.74 vs base 0.76: regressed"),
        promotion=Decision("keep", "promotion rule: roc_auc 0.74 vs champion main 0.76"),
        plots={"ROC": ["head", "main"]},
        plots_html="plots/index.html",
    )
    text = render_markdown(report)
    assert f"| `{METRICS}` | roc_auc | 0.76 | 0.74 | -0.02 |" in text
    assert f"| `{METRICS}` | brier | - | 0.12 | new |" in text
    assert "- **Regression check**: **FAILED**: roc_auc 0.74" in text
    assert "(on main it would keep)" in text
    assert "- ROC: head, main" in text
    assert text.rstrip().endswith("**Result**: FAILED: roc_auc 0.74 vs base 0.76: regressed")
    assert report.failures == ["roc_auc 0.74 vs base 0.76: regressed"]


def test_dvc_lock_and_plot_revisions_are_read_by_path_and_labelled() -> None:
    lock = {"stages": {"prepare": {"outs": [{"path": "data/test.parquet", "md5": "abc"}]}}}
    assert locked_md5(lock, "data/test.parquet") == "abc"
    assert locked_md5(lock, "data/other.parquet") is None
    assert locked_md5({}, "data/test.parquet") is None
    plots = {"data": {"ROC": [{"revisions": ["workspace", "f" * 40]}], "PR": [{"revisions": []}]}}
    labels = {"f" * 40: short_ref("f" * 40), "workspace": "head"}
    assert plot_revisions(plots, labels) == {"PR": [], "ROC": ["ffffffffffff", "head"]}
    # An image plot is a DVC-cached output: a CI clone without a remote lacks the base's.
    missing = {"errors": [{"name": "roc.png", "rev": "f" * 40, "type": "FileNotFoundError"}]}
    assert plot_errors(missing, labels) == ["roc.png at ffffffffffff: FileNotFoundError"]


def test_the_workflow_runs_the_tested_steps_in_its_jobs() -> None:
    workflow = yaml.safe_load((PROJECT_ROOT / ".github/workflows/ci.yml").read_text())
    jobs = workflow["jobs"]
    assert jobs["test"]["steps"][-1]["run"] == "bash .ci/run"

    def runs(job: str) -> list[str]:
        return [step["run"] for step in jobs[job]["steps"] if "run" in step]

    def uploaded(job: str) -> list[str]:
        steps = jobs[job]["steps"]
        return [s["with"]["path"] for s in steps if s.get("uses", "").startswith("actions/upload")]

    report = runs("model-report")
    assert report.index("dvc repro") < next(
        i for i, command in enumerate(report) if command.startswith("reprokit ci report --base")
    )
    assert "pull_request" in jobs["model-report"]["if"]
    assert uploaded("model-report") == ["build/ci"]
    deploy = runs("deploy-staging")
    assert deploy.index("dvc repro") < next(
        i for i, command in enumerate(deploy) if command.startswith("reprokit ci deploy")
    )
    assert "refs/heads/main" in jobs["deploy-staging"]["if"]
    assert uploaded("deploy-staging") == ["build/deploy"]


@pytest.mark.parametrize(
    ("configured", "repository"),
    [
        ("reprokit:latest", "reprokit"),
        ("registry.example:5000/team/reprokit:1.2", "registry.example:5000/team/reprokit"),
        ("ghcr.io/org/reprokit@sha256:" + "0" * 64, "ghcr.io/org/reprokit"),
        ("localhost:5000/reprokit", "localhost:5000/reprokit"),
    ],
)
def test_the_image_is_the_bentos_tag_under_the_configured_repository(
    configured: str, repository: str
) -> None:
    assert repository_of(configured) == repository
    assert image_for("reprokit:abc123", repository) == f"{repository}:abc123"
    assert image_for("reprokit:abc123", "") == "reprokit:abc123"
