"""Only a gate-passing, recorded model ships, with its run's lineage; a Bento packs the champion.

One project copy with its own MLflow and BentoML stores:

1. `reprokit run`                                   -> v1, champion; packaged as A
2. `reprokit run model.num_leaves=7` (rule margin 0.9) -> v2, not champion; packaged as B (newest)
3. `bentoml build`                                  -> the Bento holds A, the champion, not B
4. tracking=none in params.yaml                     -> package refuses; `--untracked` marks it
5. `reprokit run ... gate roc_auc >= 0.99`           -> FAILED; package refuses, naming run and gate
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import aliases, bentoml_env, run
from tests.support.templates import executions_from

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("package-gate")]


@dataclass
class Scenario:
    root: Path
    env: dict[str, str]
    client: Any
    runs: dict[str, Any]  # step -> its MLflow run
    tags: dict[str, str]  # step -> packaged BentoML tag
    results: dict[str, Any]  # step -> the completed process of a command that may fail
    models_before_gate: list[str]  # BentoML store before step 5

    def model_yaml(self, tag: str) -> dict[str, Any]:
        name, version = tag.split(":")
        path = Path(self.env["BENTOML_HOME"]) / "models" / name / version / "model.yaml"
        value: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        return value


def command(args: list[str], root: Path, env: dict[str, str]) -> Any:
    import subprocess

    return subprocess.run(
        args, cwd=root, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def packaged(root: Path, env: dict[str, str], *extra: str) -> str:
    result = command(["reprokit", "package", *extra], root, env)
    assert result.returncode == 0, result.stderr[-3000:]
    return str(result.stdout.strip().split()[-1])


def stored_models(root: Path, env: dict[str, str]) -> list[str]:
    listed = command(["bentoml", "models", "list", "-o", "json"], root, env)
    return sorted(item["tag"] for item in json.loads(listed.stdout))


@pytest.fixture(scope="module")
def scenario(
    tmp_path_factory: pytest.TempPathFactory, trained_template: Path
) -> Iterator[Scenario]:
    base = tmp_path_factory.mktemp("package-gate")
    # The champion: the default `reprokit run`, trained once for the session.
    execute = executions_from(trained_template, base / "project", "champion")
    root = execute.project
    env = bentoml_env(root, base / "bentoml")
    runs, tags, results = {}, {}, {}
    runs["champion"] = execute.steps["champion"].run
    tags["champion"] = packaged(root, env)
    newer = ["model.num_leaves=7", "tracking.promotion.min_improvement=0.9"]
    runs["newest"] = execute("newest", ["reprokit", "run", *newer]).run
    tags["newest"] = packaged(root, env)
    results["build"] = command(["bentoml", "build"], root, env)
    run(["reprokit", "config", "compose", "tracking=none"], root)
    results["no_tracking"] = command(["reprokit", "package"], root, env)
    tags["untracked"] = packaged(root, env, "--untracked")
    run(["reprokit", "config", "compose"], root)
    before = stored_models(root, env)
    gate = ["model.num_leaves=15", "evaluation.gates.binary.roc_auc.min=0.99"]
    runs["gate_failed"] = execute("gate_failed", ["reprokit", "run", *gate], check=False).run
    results["gate_failed"] = command(["reprokit", "package"], root, env)
    yield Scenario(root, env, execute.client, runs, tags, results, before)


def test_a_package_carries_its_runs_id_version_fingerprint_and_metrics(scenario: Scenario) -> None:
    for step, version in (("champion", "1"), ("newest", "2")):
        run_ = scenario.runs[step]
        info = scenario.model_yaml(scenario.tags[step])
        metadata, labels = info["metadata"], info["labels"]
        assert metadata["mlflow_run_id"] == run_.info.run_id == labels["mlflow_run_id"]
        assert metadata["model_version"] == version == labels["model_version"]
        assert metadata["fingerprint"] == run_.data.tags["rk.fingerprint"]
        assert metadata["model_sha256"] == run_.data.tags["rk.model_sha256"]
        assert metadata["metrics"]["roc_auc"] == run_.data.metrics["roc_auc"]
        assert metadata["quality_gate"] == "passed"
    assert aliases(scenario.client)["champion"] == "1"


def test_bentoml_build_packs_the_champion_not_the_newest_model(scenario: Scenario) -> None:
    build = scenario.results["build"]
    assert build.returncode == 0, build.stderr[-3000:]
    champion, newest = scenario.tags["champion"], scenario.tags["newest"]
    home = Path(scenario.env["BENTOML_HOME"])
    (bento_yaml,) = (home / "bentos" / "reprokit").glob("*/bento.yaml")
    bento = yaml.safe_load(bento_yaml.read_text(encoding="utf-8"))
    packed = [model["tag"] for service in bento["services"] for model in service["models"]]
    assert packed == [champion]
    assert bento["models"] == []  # bentofile.yaml names none: no `:latest`
    # The exported Bento (what ships elsewhere) holds exactly the champion's files.
    tag = f"reprokit:{bento_yaml.parent.name}"
    exported = scenario.root.parent / "reprokit.bento"
    result = command(["bentoml", "export", tag, str(exported)], scenario.root, scenario.env)
    assert result.returncode == 0, result.stderr[-3000:]
    with tarfile.open(exported) as archive:
        folders = [m.name.removeprefix("./").split("/") for m in archive.getmembers() if m.isdir()]
    models = {parts[2] for parts in folders if len(parts) == 3 and parts[0] == "models"}
    assert models == {champion.split(":")[1]}
    assert newest.split(":")[1] not in models


def test_with_tracking_off_package_refuses_unless_told_untracked(scenario: Scenario) -> None:
    refused = scenario.results["no_tracking"]
    assert refused.returncode == 1
    assert "tracking is off" in refused.stderr and "--untracked" in refused.stderr
    assert "Traceback" not in refused.stderr
    info = scenario.model_yaml(scenario.tags["untracked"])
    assert info["metadata"]["untracked"] is True
    assert info["labels"]["untracked"] == "true"
    assert "mlflow_run_id" not in info["metadata"]


def test_a_gate_failed_model_is_refused_naming_the_run_and_the_gate(scenario: Scenario) -> None:
    failed = scenario.runs["gate_failed"]
    assert failed.info.status == "FAILED"
    assert failed.data.tags["rk.quality_gate"] == "failed"
    result = scenario.results["gate_failed"]
    assert result.returncode == 1
    assert f"run {failed.info.run_id} is FAILED (quality gate: failed)" in result.stderr
    assert "roc_auc" in result.stderr and "below min 0.99" in result.stderr
    assert "Traceback" not in result.stderr
    assert stored_models(scenario.root, scenario.env) == scenario.models_before_gate
