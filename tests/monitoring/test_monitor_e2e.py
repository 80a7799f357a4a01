"""`reprokit monitor` end to end in a project copy with a real MLflow SQLite store.

One `reprokit run` trains the model, writes the reference profile and sample and logs them
with the run (registered as v1, `champion`); demo batches come from `reprokit data
generate`. Then: a fresh sample passes Evidently's tests (exit 0), the drifted batch fails
them (exit 1) on exactly the drifted columns and, with labels, on the degraded ROC AUC, and
the printed table, Evidently's JSON and HTML and the summary agree on the drifted columns;
the files are on disk and in the champion run; bad input exits 2 naming the problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from tests.support import MODEL, copy_project, run, store_client

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("monitoring-e2e")]

ARTIFACTS = (
    "tracking.artifacts=[metrics,evaluation_plots,evaluation_figures,feature_state,"
    "training_history,model,reference_profile,reference_sample]"
)
REPORTS = "data/08_reporting/monitoring"


@dataclass
class Project:
    root: Path
    client: Any
    run_id: str


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path
) -> Iterator[Project]:
    root = copy_project(tmp_path_factory.mktemp("monitoring") / "project", mlflow_db_template)
    run(["reprokit", "run", "data.source.rows=4000", ARTIFACTS], root)
    run(["reprokit", "data", "generate", "--rows", "3000", "--seed", "11",
         "--output", "data/fresh.parquet"], root)  # fmt: skip
    run(["reprokit", "data", "generate", "--rows", "3000", "--seed", "12", "--drift",
         "--output", "data/drifted.parquet"], root)  # fmt: skip
    client = store_client(root)
    run_id = client.get_model_version_by_alias(MODEL, "champion").run_id
    yield Project(root, client, run_id)


def reports(root: Path) -> set[Path]:
    return set((root / REPORTS).glob("*-*.*"))


def monitor(project: Project, *args: str) -> tuple[Any, dict[str, Any], set[Path]]:
    before = reports(project.root)
    result = run(["reprokit", "monitor", *args], project.root, check=False)
    new = reports(project.root) - before
    summary = {}
    for path in new:
        if path.name.endswith("-summary.json"):
            summary = json.loads(path.read_text(encoding="utf-8"))
    return result, summary, new


def one(files: set[Path], ending: str) -> Path:
    (path,) = [path for path in files if path.name.endswith(ending)]
    return path


def drifted_in_table(stdout: str) -> set[str]:
    """The columns whose row of the printed table says DRIFT."""
    return {line.split()[1] for line in stdout.splitlines() if "DRIFT" in line and "│" in line}


def drifted_in_evidently_json(path: Path) -> set[str]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return {
        test["metric_config"]["params"]["column"]
        for test in document["tests"]
        if test["id"] == "drift" and test["status"] == "FAIL"
    }


def drifted_in_html(path: Path) -> set[str]:
    """The drift tests the HTML shows failed (its embedded test-suite widget)."""
    found = re.findall(
        r'"title": "Value Drift for column ([^"]+)", "description": "[^"]*", "state": "fail"',
        path.read_text(encoding="utf-8"),
    )
    return set(found)


def test_fresh_sample_passes_and_is_logged_to_the_champion_run(project: Project) -> None:
    result, summary, files = monitor(project, "--current", "data/fresh.parquet")
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary["status"] == "ok" and summary["drifted"] == []
    assert summary["reference"]["run_id"] == project.run_id
    # Named as the registry names it, in the summary and the printed table's title.
    registered = summary["reference"]["registered_model"]
    assert (registered["name"], registered["version"]) == (MODEL, "1")
    assert "champion" in registered["aliases"]  # the first version is the challenger too
    assert f"rows vs {MODEL} v1 @" in result.stdout
    assert summary["scored_by"] == "model"
    assert {path.name.split("-")[-1] for path in files} == {
        "report.html",
        "report.json",
        "summary.json",
    }
    assert "<html" in one(files, "-report.html").read_text(encoding="utf-8")[:500].lower()
    assert drifted_in_evidently_json(one(files, "-report.json")) == set()
    assert "OK" in result.stdout
    logged = {a.path for a in project.client.list_artifacts(project.run_id, "monitoring")}
    assert {f"monitoring/{path.name}" for path in files} <= logged
    tags = project.client.get_run(project.run_id).data.tags
    assert tags["rk.drift_status"] == "ok"


def test_drifted_batch_alarms_on_the_drifted_columns_and_performance(project: Project) -> None:
    result, summary, files = monitor(
        project, "--current", "data/drifted.parquet", "--labels", "default"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    drifted = {"income", "loan_amount", "purpose", "prediction"}
    assert set(summary["drifted"]) == drifted
    # The printed table, Evidently's JSON and HTML say the same.
    assert drifted_in_table(result.stdout) == drifted
    assert drifted_in_evidently_json(one(files, "-report.json")) == drifted
    assert drifted_in_html(one(files, "-report.html")) == drifted
    alarms = "\n".join(summary["alarms"])
    assert "RocAuc" in alarms  # the held-out ROC AUC, worse by more than 5%
    assert "Column 'purpose' values out of list" in alarms  # the new category
    assert "ALARM" in result.stdout


def test_scored_file_with_labels_of_the_training_world_passes(project: Project) -> None:
    """Predictions already in the file (`reprokit predict` columns) are used, not re-scored."""
    fresh = pd.read_parquet(project.root / "data/fresh.parquet")
    _, summary, _ = monitor(project, "--current", "data/fresh.parquet", "--labels", "default")
    assert summary["status"] == "ok", summary["alarms"]
    # The same rows with a constant "prediction" column: prediction drift, by the file's values.
    fresh.assign(probability_1=0.9).to_parquet(project.root / "data/scored.parquet")
    result, summary, _ = monitor(project, "--current", "data/scored.parquet")
    assert result.returncode == 1
    assert summary["scored_by"] == "file"
    assert summary["drifted"] == ["prediction"]


def invoke(project: Project, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    from reprokit.cli import main

    monkeypatch.chdir(project.root)
    return CliRunner().invoke(main, ["monitor", *args])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["income", "region"]), "['income', 'region']"),
        (lambda f: f.assign(age="old"), "column 'age' has 3000 non-numeric value(s)"),
        (lambda f: f.iloc[:0], "0 rows"),
    ],
    ids=["missing-columns", "wrong-type", "zero-rows"],
)
def test_bad_current_data_exits_2_naming_the_problem(
    project: Project, monkeypatch: pytest.MonkeyPatch, change: Any, message: str
) -> None:
    bad = change(pd.read_parquet(project.root / "data/fresh.parquet"))
    bad.to_parquet(project.root / "data/bad.parquet")
    before = reports(project.root)
    result = invoke(project, monkeypatch, "--current", "data/bad.parquet")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert reports(project.root) == before  # nothing written for an unusable batch


def test_unreadable_file_and_missing_labels_exit_2(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.root / "data/broken.csv").write_text("", encoding="utf-8")
    result = invoke(project, monkeypatch, "--current", "data/broken.csv")
    assert result.exit_code == 2 and "empty" in result.output
    result = invoke(project, monkeypatch, "--current", "data/fresh.parquet", "--labels", "nope")
    assert result.exit_code == 2 and "['nope']" in result.output


def test_model_without_profile_exits_2(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke(
        project, monkeypatch, "--current", "data/fresh.parquet", "--reference", "missing.json"
    )
    assert result.exit_code == 2
    assert "no reference profile at" in result.output
    experiment = project.client.get_run(project.run_id).info.experiment_id
    bare = project.client.create_run(experiment).info.run_id
    project.client.set_terminated(bare)
    result = invoke(project, monkeypatch, "--current", "data/fresh.parquet", "--run", bare)
    assert result.exit_code == 2
    assert f"MLflow run {bare} has no reference_profile artifact" in result.output


def test_local_profile_is_the_reference_without_a_registry(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = invoke(
        project,
        monkeypatch,
        "--current",
        "data/fresh.parquet",
        "--reference",
        "data/06_models/reference_profile.json",
        "--output-dir",
        "elsewhere",
    )
    assert result.exit_code == 0, result.output
    assert len(list((project.root / "elsewhere").glob("*-report.html"))) == 1
