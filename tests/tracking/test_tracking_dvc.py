"""One MLflow run per execution, from `dvc repro`, `reprokit run` and `kedro run` alike.

One project copy, one sequence of real executions (each a subprocess); every test reads
what one of them left in the copy's store:

1. `dvc repro` (all stages)          -> one run, all stages in it (the session's shared one)
2. `dvc repro` again (no-op)         -> no run
3. `reprokit run`, 4. `kedro run`    -> one run each, the same fingerprint as 1.
5. `dvc repro` with the quality gate out of reach -> one FAILED run, recorded by `evaluate`
6. `dvc exp run -S model.num_leaves=63`           -> one run, only the model's stages rerun
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import (
    MODEL,
    Executed,
    aliases,
    artifact_bytes,
    artifact_text,
    commit_all,
    md5,
    run,
    sha256,
    tool_env,
    versions,
)
from tests.support.dvc import ran_stages
from tests.support.templates import executions_from

from reprokit.core.cost import run_cost, total_cost
from reprokit.tracking.run_view import experiment_params
from reprokit.tracking.store import flatten, fluent_tracking_uri

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tracking-dvc")]

PIPELINE_STAGES = ("prepare", "features", "train", "evaluate")
RAW = "data/01_raw/credit.parquet"
MODEL_FILE = "data/06_models/model.txt"
TRAIN_FEATURES = "data/05_model_input/train_features.parquet"
FIGURE = "evaluation_figures/roc.png"  # as logged to the run


@dataclass
class Scenario:
    project: Path
    client: Any
    steps: dict[str, Executed]
    head: str  # the commit the first `dvc repro` ran on
    params_yaml: str  # params.yaml of the first `dvc repro`
    lock: dict[str, Any]  # dvc.lock after the first `dvc repro`
    noop_lock: dict[str, Any]  # dvc.lock after the second (no-op) `dvc repro`

    def run_of(self, step: str) -> Any:
        return self.steps[step].run


def lock_md5(lock: dict[str, Any], stage: str, path: str) -> str:
    outs = lock["stages"][stage]["outs"]
    return str(next(out["md5"] for out in outs if out["path"] == path))


@pytest.fixture(scope="module")
def scenario(
    tmp_path_factory: pytest.TempPathFactory, reproduced_template: Path
) -> Iterator[Scenario]:
    # Execution 1 is the session's shared first `dvc repro` (`reproduced_template`: a git
    # repository of the project with its .gitignore, as in a clone, so git_dirty reflects
    # the project's files only), recorded as though it had run in this copy.
    destination = tmp_path_factory.mktemp("tracking-dvc") / "project"
    execute = executions_from(reproduced_template, destination, "repro")
    project = execute.project
    head = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
    lock = yaml.safe_load((project / "dvc.lock").read_text(encoding="utf-8"))
    params_yaml = (project / "params.yaml").read_text(encoding="utf-8")
    execute("noop", ["dvc", "repro"])
    noop_lock = yaml.safe_load((project / "dvc.lock").read_text(encoding="utf-8"))
    commit_all(project, "first repro")
    execute("reprokit_run", ["reprokit", "run"])
    execute("kedro_run", ["kedro", "run"])
    run(["reprokit", "config", "compose", "evaluation.gates.binary.roc_auc.min=0.99"], project)
    execute("failing_repro", ["dvc", "repro"], check=False)
    run(["git", "checkout", "-q", "--", "params.yaml"], project)
    execute("experiment", ["dvc", "exp", "run", "-S", "model.num_leaves=63"])
    yield Scenario(project, execute.client, execute.steps, head, params_yaml, lock, noop_lock)


# --- one run per execution ---------------------------------------------------------------


def test_each_execution_adds_exactly_one_run_and_a_no_op_none(scenario: Scenario) -> None:
    added = {step: len(executed.runs) for step, executed in scenario.steps.items()}
    assert added == {
        "repro": 1,
        "noop": 0,
        "reprokit_run": 1,
        "kedro_run": 1,
        "failing_repro": 1,
        "experiment": 1,
    }
    noop = scenario.steps["noop"].result.stdout
    assert ran_stages(noop) == set() and "Data and pipelines are up to date." in noop


def test_each_run_names_its_entry_point(scenario: Scenario) -> None:
    entry_points = {
        step: executed.run.data.tags["rk.entry_point"]
        for step, executed in scenario.steps.items()
        if executed.runs
    }
    assert entry_points == {
        "repro": "dvc repro",
        "reprokit_run": "reprokit run",
        "kedro_run": "kedro run",
        "failing_repro": "dvc repro",
        "experiment": "dvc exp run",
    }


def test_all_stages_of_a_dvc_repro_land_in_its_one_run(scenario: Scenario) -> None:
    run_ = scenario.run_of("repro")
    records = json.loads(artifact_text(scenario.client, run_.info.run_id, "stage_records.json"))
    assert set(PIPELINE_STAGES) <= set(records)
    assert {f"time.{stage}_s" for stage in PIPELINE_STAGES} <= set(run_.data.metrics)
    assert records["train"]["node_seconds"]["train"] > 0


def test_stage_records_carry_each_stage_duration_and_status(scenario: Scenario) -> None:
    """The record of a stage says how long it took and that it finished."""
    run_ = scenario.run_of("repro")
    records = json.loads(artifact_text(scenario.client, run_.info.run_id, "stage_records.json"))
    for stage in PIPELINE_STAGES:
        assert records[stage]["status"] == "FINISHED", stage
        assert records[stage]["started"], stage
        assert run_.data.metrics[f"time.{stage}_s"] > 0, stage


def test_every_stage_records_what_it_cost_and_the_no_op_stays_a_no_op(
    scenario: Scenario,
) -> None:
    """CPU seconds, wall time and peak memory per stage and for the run; a stage's wall
    time counts its process's start-up, so it exceeds its nodes' time. Costs differ on
    every run, yet the second `dvc repro` changed nothing (they are in no DVC out)."""
    metrics = scenario.run_of("repro").data.metrics
    costs = {stage: run_cost(metrics, stage) for stage in (*PIPELINE_STAGES, "track")}
    for stage, cost in costs.items():
        assert cost is not None, (stage, sorted(metrics))
        assert cost.cpu_s > 0 and cost.peak_rss_mb > 50, (stage, cost)
        assert cost.wall_s > metrics.get(f"time.{stage}_s", 0.0), (stage, cost)
    assert run_cost(metrics) == total_cost(c for c in costs.values() if c is not None)
    assert run_cost(scenario.run_of("reprokit_run").data.metrics, "all") is not None
    assert scenario.noop_lock == scenario.lock


def test_experiment_run_logs_the_changed_param(scenario: Scenario) -> None:
    run_ = scenario.run_of("experiment")
    assert run_.info.status == "FINISHED"
    assert run_.data.params["model.num_leaves"] == "63"
    assert scenario.run_of("repro").data.params["model.num_leaves"] == "31"


def test_a_model_param_experiment_reruns_only_the_model_stages(scenario: Scenario) -> None:
    """`dvc exp run -S model.num_leaves=63` after the executions before it: a new model on
    the first repro's features, and the README's readable `dvc exp show` fits 120 columns."""
    project = scenario.project
    ran = ran_stages(scenario.steps["experiment"].result.stdout)
    assert ran == {"train", "evaluate", "track", "package"}
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["model"]["num_leaves"] == 63
    assert md5((project / MODEL_FILE).read_bytes()) != lock_md5(scenario.lock, "train", MODEL_FILE)
    features = md5((project / TRAIN_FEATURES).read_bytes())
    assert features == lock_md5(scenario.lock, "features", TRAIN_FEATURES)
    assert "num_leaves" in run(["dvc", "exp", "show", "--json"], project).stdout
    table = run(
        ["dvc", "exp", "show", "--no-pager", "--only-changed", "--drop", "Created|.*/.*"],
        project,
        env={**tool_env(project), "COLUMNS": "120"},
    ).stdout
    assert "model.num_leaves" in table and "roc_auc" in table and "…" not in table
    assert max(len(line) for line in table.splitlines()) <= 120


# --- the same fingerprint from every entry point ------------------------------------------------


def test_same_fingerprint_from_dvc_repro_reprokit_run_and_kedro_run(scenario: Scenario) -> None:
    prints = {
        step: scenario.run_of(step).data.tags["rk.fingerprint"]
        for step in ("repro", "reprokit_run", "kedro_run")
    }
    assert len(set(prints.values())) == 1, prints
    written = json.loads((scenario.project / "data/08_reporting/fingerprint.json").read_text())
    # The `track` stage's output is the fingerprint of the last dvc execution (the experiment).
    assert written["value"] == scenario.run_of("experiment").data.tags["rk.fingerprint"]


def test_a_param_change_changes_config_hash_and_fingerprint_only(scenario: Scenario) -> None:
    before = scenario.run_of("repro").data.tags
    after = scenario.run_of("experiment").data.tags
    assert after["rk.fingerprint"] != before["rk.fingerprint"]
    assert after["rk.config_hash"] != before["rk.config_hash"]
    for same in ("rk.code_hash", "rk.lock_hash", "rk.md5.raw"):
        assert after[same] == before[same], same


# --- what a run holds -------------------------------------------------------------------------


def test_composed_config_artifact_equals_params_yaml(scenario: Scenario) -> None:
    run_id = scenario.run_of("repro").info.run_id
    assert artifact_text(scenario.client, run_id, "composed_config.yaml") == scenario.params_yaml


def test_params_are_the_experiment_defining_part_of_the_config(scenario: Scenario) -> None:
    params = scenario.run_of("repro").data.params
    assert params == dict(flatten(experiment_params(yaml.safe_load(scenario.params_yaml))))
    assert "model.num_leaves" in params
    assert not any(key.startswith(("catalog.", "pipeline.", "data.schema.")) for key in params)


def test_the_learning_curve_is_a_step_metric_with_real_timestamps(scenario: Scenario) -> None:
    run_ = scenario.run_of("repro")
    curve = scenario.client.get_metric_history(run_.info.run_id, "valid.binary_logloss")
    assert [point.step for point in curve] == list(range(len(curve)))
    assert len(curve) > 10
    assert all(point.timestamp > 1_700_000_000_000 for point in curve)  # not 1970


def test_run_names_differ_per_run_and_name_the_entry_point(scenario: Scenario) -> None:
    names = [step.run.info.run_name for step in scenario.steps.values() if step.runs]
    assert len(set(names)) == len(names), names
    assert names[0].startswith("dvc repro ")
    assert scenario.run_of("experiment").info.run_name.startswith("dvc exp run ")


def test_a_registered_version_has_a_signature_an_input_example_and_a_description(
    scenario: Scenario,
) -> None:
    import mlflow.pyfunc
    from mlflow.models import Model, get_model_info

    version = scenario.client.get_model_version(
        MODEL, scenario.run_of("repro").data.tags["rk.model_version"]
    )
    assert scenario.run_of("repro").info.run_id in version.description
    assert "roc_auc" in version.description
    with fluent_tracking_uri(scenario.client.tracking_uri):  # `models:/` resolves there
        info = get_model_info(version.source)
        example = Model.load(version.source).load_input_example(version.source)
        predicted = mlflow.pyfunc.load_model(version.source).predict(example)
    assert info.signature is not None
    inputs = [spec.name for spec in info.signature.inputs.inputs]
    assert "income" in inputs and len(inputs) > 10
    # The test split's first rows as the model takes them: its features, in its order.
    assert list(example.columns) == inputs and len(example) == 5
    assert len(predicted) == 5


def test_tags_identify_data_code_git_lock_and_versions(scenario: Scenario) -> None:
    tags = scenario.run_of("repro").data.tags
    assert tags["rk.md5.raw"] == lock_md5(scenario.lock, "data", RAW)
    assert tags["rk.git_commit"] == scenario.head
    assert tags["rk.git_dirty"] == "false"
    assert tags["rk.lock_hash"] == sha256((scenario.project / "uv.lock").read_bytes())
    assert tags["rk.version.mlflow"] == metadata.version("mlflow")
    assert tags["rk.version.lightgbm"] == metadata.version("lightgbm")
    assert tags["rk.version.python"].count(".") == 2
    fingerprint = json.loads(
        artifact_text(scenario.client, scenario.run_of("repro").info.run_id, "fingerprint.json")
    )
    assert tags["rk.config_hash"] == fingerprint["config_hash"]
    assert tags["rk.code_hash"] == fingerprint["code_hash"]
    assert tags["rk.fingerprint"] == fingerprint["value"]


def test_uncommitted_params_are_recorded_as_dirty(scenario: Scenario) -> None:
    # `dvc exp run -S` rewrites params.yaml without committing it.
    assert scenario.run_of("experiment").data.tags["rk.git_dirty"] == "true"


def test_model_artifact_matches_its_sha256_tag_and_dvc_lock(scenario: Scenario) -> None:
    run_ = scenario.run_of("repro")
    model = artifact_bytes(scenario.client, run_.info.run_id, "model/model.txt")
    assert sha256(model) == run_.data.tags["rk.model_sha256"]
    assert md5(model) == lock_md5(scenario.lock, "train", MODEL_FILE)


def test_logged_figures_carry_a_footer_and_the_dvc_tracked_ones_stay_as_they_were(
    scenario: Scenario,
) -> None:
    from PIL import Image

    def logged(step: str) -> Image.Image:
        data = artifact_bytes(scenario.client, scenario.run_of(step).info.run_id, FIGURE)
        return Image.open(BytesIO(data))

    on_disk = Image.open(scenario.project / "data/08_reporting/figures" / Path(FIGURE).name)
    width, height = on_disk.size
    # The last execution wrote the figure on disk: its run's copy is that figure, pixel for
    # pixel, over a footer; two runs of one config (one figure) log different footers.
    last, repro, ran = logged("experiment"), logged("repro"), logged("reprokit_run")
    assert last.width == width and last.height > height
    assert last.crop((0, 0, width, height)).tobytes() == on_disk.convert("RGBA").tobytes()
    box = (0, 0, width, height)
    assert repro.crop(box).tobytes() == ran.crop(box).tobytes()
    assert repro.tobytes() != ran.tobytes()
    # The folder DVC tracks still holds the bytes dvc.lock records.
    status = run(["dvc", "status", "evaluate"], scenario.project).stdout
    assert "up to date" in status, status


def test_dataset_inputs_give_lineage_with_dvc_hashes(scenario: Scenario) -> None:
    run_ = scenario.client.get_run(scenario.run_of("repro").info.run_id)
    inputs = {item.dataset.name: item for item in run_.inputs.dataset_inputs}
    assert set(inputs) == {"raw", "train", "valid", "test"}
    assert inputs["raw"].dataset.digest == lock_md5(scenario.lock, "data", RAW)
    path = "data/03_primary/train.parquet"
    assert inputs["train"].dataset.digest == lock_md5(scenario.lock, "prepare", path)
    contexts = {name: {t.value for t in item.tags} for name, item in inputs.items()}
    assert contexts["raw"] == {"raw"}
    assert contexts["test"] == {"test"}


def test_validation_summary_names_the_validated_raw_data(scenario: Scenario) -> None:
    run_id = scenario.run_of("repro").info.run_id
    summary = json.loads(artifact_text(scenario.client, run_id, "validation_summary.json"))
    assert summary["raw"] == {"rows": 10000, "columns": 15, "status": "passed"}


def test_metrics_are_the_evaluation_metrics(scenario: Scenario) -> None:
    metrics = scenario.run_of("repro").data.metrics
    assert metrics["roc_auc"] >= 0.70
    assert metrics["n_test"] == 2000


# --- a failing stage ---------------------------------------------------------------------------


def test_failing_stage_records_a_failed_run_with_the_error(scenario: Scenario) -> None:
    executed = scenario.steps["failing_repro"]
    assert executed.result.returncode != 0
    run_ = executed.run
    assert run_.info.status == "FAILED"
    assert run_.data.tags["rk.failed_stage"] == "evaluate"
    assert "QualityGateError" in run_.data.tags["rk.error"]
    assert "roc_auc" in run_.data.tags["rk.error"]
    error = artifact_text(scenario.client, run_.info.run_id, "error.txt")
    assert error == run_.data.tags["rk.error"]


def test_a_gate_failed_run_names_the_model_dvc_kept_for_its_config(scenario: Scenario) -> None:
    """Only the gate changed: DVC did not rerun train, and the model it kept is checked
    against dvc.lock, so the FAILED run names it (packaging then refuses it by name)."""
    tags = scenario.run_of("failing_repro").data.tags
    assert tags["rk.quality_gate"] == "failed"
    assert tags["rk.model"].startswith("this config's model, not retrained: DVC")
    assert tags["rk.model_sha256"] == scenario.run_of("repro").data.tags["rk.model_sha256"]


# --- the registry across the executions -----------------------------------------------------------


def test_each_new_model_is_a_version_and_the_newest_is_challenger(scenario: Scenario) -> None:
    """Runs 2 and 3 retrain the bytes of run 1: they reuse v1 instead of adding versions."""
    registered = versions(scenario.client)
    trained = ["repro", "experiment"]
    assert [mv.run_id for mv in registered] == [scenario.run_of(s).info.run_id for s in trained]
    assert [int(mv.version) for mv in registered] == [1, 2]
    for step in ("repro", "reprokit_run", "kedro_run"):
        assert scenario.run_of(step).data.tags["rk.model_version"] == "1", step
    assert aliases(scenario.client)["challenger"] == "2"


def test_a_better_model_takes_the_champion(scenario: Scenario) -> None:
    """The experiment's model moves it iff its ROC AUC is higher (min_improvement 0)."""
    auc = {s: scenario.run_of(s).data.metrics["roc_auc"] for s in ("repro", "experiment")}
    assert scenario.run_of("kedro_run").data.metrics["roc_auc"] == auc["repro"]
    expected = "2" if auc["experiment"] > auc["repro"] else "1"
    assert aliases(scenario.client)["champion"] == expected
