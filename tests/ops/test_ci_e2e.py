"""The CI workflow's model steps, run locally with the real tools in a git project copy:

1. `dvc repro` on main, committed                       -> the base
2. PR 1: model.num_leaves=7, `dvc repro`, `ci report`   -> exit 0: roc_auc up, would promote
3. PR 1 merged: `ci deploy`                             -> a Bento of the champion, manifests
   for its image
4. PR 2: model.learning_rate=0.8, `dvc repro`, `ci report` against PR 1 -> exit 1 naming
   roc_auc, which regressed beyond the promotion rule's margin (0)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from tests.support import aliases, commit_all, run, store_client, tool_env
from tests.support.templates import relocated_copy

pytestmark = pytest.mark.slow

MODEL_CONF = "conf/model/lightgbm.yaml"


def _set_model_param(project: Path, key: str, value: str) -> None:
    path = project / MODEL_CONF
    text, count = re.subn(rf"(?m)^{key}: .*$", f"{key}: {value}", path.read_text())
    assert count == 1, f"{key} not in {MODEL_CONF}"
    path.write_text(text)
    run(["reprokit", "config", "compose"], project)


def _head(project: Path) -> str:
    return run(["git", "rev-parse", "HEAD"], project).stdout.strip()


def _report(project: Path, base: str, summary: Path) -> tuple[int, str, str]:
    env = {**tool_env(project), "GITHUB_STEP_SUMMARY": str(summary)}
    result = run(["reprokit", "ci", "report", "--base", base], project, check=False, env=env)
    markdown = (project / "build/ci/report.md").read_text()
    return result.returncode, result.stderr, markdown


def test_the_pr_report_gates_regressions_and_main_deploys_the_champion(
    reproduced_template: Path, tmp_path: Path
) -> None:
    project = relocated_copy(reproduced_template, tmp_path / "project")  # git, `dvc repro`
    commit_all(project, "main: the base model")
    base = _head(project)

    _set_model_param(project, "num_leaves", "7")
    run(["dvc", "repro"], project)
    summary = tmp_path / "summary.md"
    code, stderr, markdown = _report(project, base, summary)
    assert code == 0, stderr
    roc = re.search(r"\| roc_auc \| ([0-9.]+) \| ([0-9.]+) \| \+[0-9.]+ \|", markdown)
    assert roc is not None, markdown
    assert float(roc[2]) > float(roc[1])
    assert "- **Quality gate**: passed" in markdown
    assert "(on main it would promote)" in markdown
    assert "- ROC: " in markdown
    assert (project / "build/ci/plots/index.html").is_file()
    assert markdown.rstrip().endswith("**Result**: passed")
    assert summary.read_text() == markdown + "\n"  # the job summary got the same report

    commit_all(project, "PR 1 merged")
    deployed = run(
        ["reprokit", "ci", "deploy", "serving.deployment.namespace=staging"], project
    ).stdout
    deploy = json.loads((project / "build/deploy/deploy.json").read_text())
    assert deploy["champion"] == aliases(store_client(project))["champion"] == "2"
    bento = deploy["bento"]
    assert bento in deployed
    # The Bento exists in the copy's BentoML store and packs the champion's model.
    stored = run(["bentoml", "get", bento, "-o", "json"], project).stdout
    assert '"reprokit-credit:' in stored
    manifests = {
        path.name: yaml.safe_load(path.read_text())
        for path in (project / "build/deploy/k8s").glob("*.yaml")
    }
    container = manifests["deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "reprokit:" + bento.split(":", 1)[1]
    assert manifests["deployment.yaml"]["metadata"]["namespace"] == "staging"
    assert manifests["service.yaml"]["kind"] == "Service"
    version = kubernetes_validate.latest_version()
    for name, manifest in manifests.items():
        if name != "kustomization.yaml":  # kustomize's, not a Kubernetes object
            kubernetes_validate.validate(manifest, version, strict=True)

    _set_model_param(project, "learning_rate", "0.8")
    run(["dvc", "repro"], project)
    code, stderr, markdown = _report(project, _head(project), tmp_path / "summary-2.md")
    assert code == 1
    assert "roc_auc" in stderr
    assert "regressed beyond the promotion rule's margin" in stderr
    assert "Traceback" not in stderr
    assert "- **Regression check**: **FAILED**: roc_auc" in markdown
    assert "(on main it would keep)" in markdown
    assert "**Result**: FAILED: roc_auc" in markdown
