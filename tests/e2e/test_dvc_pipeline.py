"""End to end with the real `dvc`: a full repro (the session's shared one) and what guards
it. Its no-op rerun and a model-param-only experiment: tests/tracking/test_tracking_dvc.py,
whose sequence of executions runs both on a copy of the same repro."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.support import commit_all, run
from tests.support.dvc import STAGES, ran_stages
from tests.support.mlflow_store import store_client
from tests.support.templates import build_result, relocated_copy

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dvc")]


@pytest.fixture(scope="module")
def repro_project(
    tmp_path_factory: pytest.TempPathFactory, reproduced_template: Path
) -> Iterator[Path]:
    """A project copy after one full `dvc repro`, committed."""
    project = relocated_copy(reproduced_template, tmp_path_factory.mktemp("dvc") / "project")
    first_repro = build_result(reproduced_template)
    assert ran_stages(first_repro.stdout + first_repro.stderr) == set(STAGES)
    commit_all(project, "first repro")
    yield project


def test_full_repro_writes_model_metrics_and_plots(repro_project: Path) -> None:
    metrics = json.loads((repro_project / "data/08_reporting/metrics.json").read_text())
    assert metrics["roc_auc"] >= 0.70
    assert metrics["n_test"] == 2000
    model = (repro_project / "data/06_models/model.txt").read_text()
    assert model.startswith("tree\n")
    assert {p.name for p in (repro_project / "data/08_reporting/plots").iterdir()} >= {
        "roc.csv",
        "pr.csv",
        "calibration.csv",
        "feature_importance.csv",
        "learning_curve.csv",
    }
    figures = sorted((repro_project / "data/08_reporting/figures").glob("*.png"))
    assert figures
    # kedro-viz's dataset statistics, from every stage (each merges its own tables in).
    stats = json.loads((repro_project / ".viz/stats.json").read_text())
    assert stats["test"]["rows"] == stats["test_features"]["rows"] == metrics["n_test"]
    assert {"raw", "primary", "train", "valid", "train_features"} <= set(stats)
    lock = yaml.safe_load((repro_project / "dvc.lock").read_text())
    assert set(lock["stages"]) == set(STAGES)
    # The raw data's content hash is what DVC records.
    raw_out = lock["stages"]["data"]["outs"][0]
    assert raw_out["path"] == "data/01_raw/credit.parquet"
    assert len(raw_out["md5"]) == 32
    # Each plot once: the declared ones and each figure; no CSV drawn against its row index.
    shown = json.loads(run(["dvc", "plots", "show", "--json"], repro_project).stdout)["data"]
    declared = [
        next(iter(plot))
        for plot in yaml.safe_load((repro_project / "dvc.yaml").read_text())["plots"]
    ]
    assert sorted(shown) == sorted(
        [*declared, *(str(path.relative_to(repro_project)) for path in figures)]
    )
    assert all(len(images) == 1 for name, images in shown.items() if name.endswith(".png"))


def test_model_is_identical_to_the_committed_run(repro_project: Path, project_root: Path) -> None:
    """The bundled default run is bit-for-bit reproducible on another checkout."""
    ours = yaml.safe_load((repro_project / "dvc.lock").read_text())["stages"]
    committed = yaml.safe_load((project_root / "dvc.lock").read_text())["stages"]
    for stage in STAGES:
        assert ours[stage]["outs"] == committed[stage]["outs"], stage
    # The outputs git tracks (metrics, plot data) too: `git status` is clean after a repro.
    tracked = run(["git", "ls-files", "data"], project_root).stdout.split()
    reports = [name for name in tracked if not name.endswith((".gitignore", ".gitkeep"))]
    assert reports
    for name in reports:
        assert (repro_project / name).read_bytes() == (project_root / name).read_bytes(), name


def test_stage_refuses_a_stale_dvc_yaml(repro_project: Path) -> None:
    params_path = repro_project / "params.yaml"
    original = params_path.read_text()
    params = yaml.safe_load(original)
    params["catalog"]["model"]["filepath"] = "data/06_models/other.txt"
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        result = run(["reprokit", "stage", "train"], repro_project, check=False)
        assert result.returncode != 0
        assert "dvc.yaml is stale" in result.stderr
        assert "train" in result.stderr
        assert not (repro_project / "data/06_models/other.txt").exists()
    finally:
        params_path.write_text(original)


def test_stage_refuses_an_unknown_pipeline_before_recording_a_run(repro_project: Path) -> None:
    store = store_client(repro_project)
    experiments = [experiment.experiment_id for experiment in store.search_experiments()]
    before = len(store.search_runs(experiments))
    result = run(["reprokit", "stage", "trian"], repro_project, check=False)
    assert result.returncode == 2
    assert "unknown pipeline(s) ['trian']; declared pipelines: ['evaluate'," in result.stderr
    assert len(store.search_runs(experiments)) == before  # no FAILED run for a typo
    assert not (repro_project / ".reprokit/records/trian.json").exists()


def test_dvc_check_fails_on_a_hand_edit_and_passes_after_generate(repro_project: Path) -> None:
    dvc_yaml = repro_project / "dvc.yaml"
    original = dvc_yaml.read_text()
    dvc_yaml.write_text(original.replace("cmd: reprokit stage train", "cmd: python train.py"))
    try:
        failed = run(["reprokit", "dvc", "check"], repro_project, check=False)
        assert failed.returncode != 0
        assert "stages that differ: ['train']" in failed.stderr
        run(["reprokit", "dvc", "generate"], repro_project)
        run(["reprokit", "dvc", "check"], repro_project)
        assert dvc_yaml.read_text() == original
    finally:
        dvc_yaml.write_text(original)


def test_config_check_cli_fails_when_stale(repro_project: Path) -> None:
    run(["reprokit", "config", "check"], repro_project)
    model_conf = repro_project / "conf/model/lightgbm.yaml"
    original = model_conf.read_text()
    model_conf.write_text(original.replace("learning_rate: 0.1", "learning_rate: 0.2"))
    try:
        failed = run(["reprokit", "config", "check"], repro_project, check=False)
        assert failed.returncode != 0
        assert "model.learning_rate" in failed.stderr
    finally:
        model_conf.write_text(original)


def test_bad_raw_data_fails_the_repro_and_keeps_the_lock(repro_project: Path) -> None:
    """A corrupted raw file: dvc repro exits non-zero naming the file; dvc.lock untouched."""
    raw = repro_project / "data/01_raw/credit.parquet"
    lock_before = (repro_project / "dvc.lock").read_text()
    good = raw.read_bytes()
    raw.unlink()  # DVC protects its outputs read-only (hardlink/symlink to the cache)
    raw.write_bytes(good[: len(good) // 2])
    try:
        result = run(["dvc", "repro", "prepare", "--single-item"], repro_project, check=False)
        assert result.returncode != 0
        assert "credit.parquet cannot be read as Parquet" in result.stdout + result.stderr
        assert (repro_project / "dvc.lock").read_text() == lock_before
    finally:
        raw.unlink()
        run(["dvc", "checkout", "-q", "--force"], repro_project)
