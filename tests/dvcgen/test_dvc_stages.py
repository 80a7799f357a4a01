"""dvc.yaml's stages as pure functions of the validated config: no dvc, no project files.

The code files a stage depends on are resolved from the source (code_deps) before these
functions run; here they are a marker, so each test sees only what the config decides.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
import yaml
from tests.support import PROJECT_ROOT, copy_project

from reprokit.config.compose import workspace_from_conf
from reprokit.config.models import ReprokitConfig, SourceConfig
from reprokit.dvcgen.generate import (
    PACKAGE_MARKER,
    _plot_definitions,
    _without_nested,
    check_dvc_yaml,
    data_stage,
    package_stage,
    pipeline_stage,
    track_stage,
)
from reprokit.errors import StaleFileError
from reprokit.layout import FINGERPRINT_FILE

CODE = ["src/marker.py"]


@cache
def composed(*overrides: str) -> ReprokitConfig:
    return workspace_from_conf(PROJECT_ROOT, list(overrides)).config


def with_file_source(config: ReprokitConfig) -> ReprokitConfig:
    data = config.data.model_copy(update={"source": SourceConfig(kind="file")})
    return config.model_copy(update={"data": data})


def test_a_pipeline_stage_depends_on_what_it_reads_and_no_node_of_it_writes() -> None:
    config = composed()
    stage = pipeline_stage(config, "features", CODE)
    path = {name: entry.get("filepath") for name, entry in config.catalog.items()}
    # The splits come from `prepare`; `feature_state` is written and read inside the stage.
    assert stage.deps == [path["test"], path["train"], path["valid"], *CODE]
    assert stage.outs == [
        path[name]
        for name in ("feature_state", "test_features", "train_features", "valid_features")
    ]
    assert stage.cmd == "reprokit stage features"


def test_a_stage_binds_its_nodes_params_its_catalog_entries_and_the_engine() -> None:
    config = composed()
    stage = pipeline_stage(config, "train", CODE)
    node = config.pipeline.nodes["train"]
    datasets = {*node.inputs.values(), *node.output_names}
    # The node binds `model` and `engine.num_threads`; `engine` covers the latter.
    assert set(node.params.values()) == {"model", "engine.num_threads"}
    assert stage.params == sorted({f"catalog.{name}" for name in datasets} | {"engine", "model"})


def test_metrics_and_figures_follow_catalog_metadata_and_plot_tables_are_plain_outs() -> None:
    config = composed()
    stage = pipeline_stage(config, "evaluate", CODE)
    metrics, tables, figures = (
        config.catalog[name]["filepath"]
        for name in ("metrics", "evaluation_plots", "evaluation_figures")
    )
    assert stage.metrics == [metrics]
    # A stage plot of the tables' directory would make DVC draw each CSV against its row
    # index; the top-level definitions draw them.
    assert stage.plots == [figures]
    assert tables in stage.outs and metrics not in stage.outs and figures not in stage.outs
    body = stage.as_yaml()
    assert body["metrics"] == [{metrics: {"cache": False}}]
    assert body["plots"] == [{figures: {"cache": True}}]
    assert {tables: {"cache": False}} in body["outs"]


def test_each_plot_is_declared_once_with_its_task_template() -> None:
    config = composed()
    stage = pipeline_stage(config, "evaluate", CODE)
    definitions = {title: d for plot in _plot_definitions(config) for title, d in plot.items()}
    files = {file for d in definitions.values() for file in d["y"]}
    tables = config.catalog["evaluation_plots"]["filepath"]
    assert all(file.startswith(f"{tables}/") for file in files)
    assert not any(
        file.startswith(f"{path}/") or file == path for path in stage.plots for file in files
    )
    assert definitions["Feature importance (gain)"]["template"] == "bar_horizontal_sorted"
    # The diagonal reference: x drawn against itself as a second series.
    for title in ("ROC", "Calibration"):
        (fields,) = definitions[title]["y"].values()
        assert definitions[title]["x"] in fields and len(fields) == 2
    assert all(d["x_label"] == d["x"] for d in definitions.values())


def test_a_key_covered_by_its_parent_is_dropped() -> None:
    assert _without_nested(["evaluation.gate", "evaluation", "model.seed", "model_x"]) == [
        "evaluation",
        "model.seed",
        "model_x",
    ]


def test_generated_data_is_a_stage_and_a_users_file_is_not() -> None:
    config = composed()
    stage = data_stage(config, CODE)
    assert stage is not None
    assert (stage.outs, stage.deps) == ([config.data.path], CODE)
    assert stage.params == ["data.path", "data.source"]
    assert data_stage(with_file_source(config), CODE) is None


def test_the_track_stage_depends_on_inputs_logged_outputs_code_and_lock() -> None:
    config = composed()
    stage = track_stage(config, CODE, "uv.lock")
    assert stage is not None
    assert stage.deps[-2:] == [*CODE, "uv.lock"]
    assert config.catalog[config.tracking.metrics]["filepath"] in stage.deps
    assert "serving" not in stage.params and "model" in stage.params
    assert stage.as_yaml()["outs"] == [{FINGERPRINT_FILE: {"cache": False}}]
    without_lock = track_stage(config, CODE, None)
    assert without_lock is not None and "uv.lock" not in without_lock.deps
    assert track_stage(composed("tracking.enabled=false"), CODE, "uv.lock") is None


@pytest.mark.parametrize(
    ("overrides", "cmd", "vouched"),
    [
        ((), "reprokit package", True),
        (("tracking.enabled=false",), "reprokit package --untracked", False),
    ],
)
def test_packaging_is_vouched_for_by_the_run_unless_tracking_is_off(
    overrides: tuple[str, ...], cmd: str, vouched: bool
) -> None:
    stage = package_stage(composed(*overrides), CODE)
    assert stage is not None
    assert stage.cmd == cmd
    assert (FINGERPRINT_FILE in stage.deps) is vouched
    assert stage.deps[-1:] == CODE
    assert stage.as_yaml()["outs"] == [{PACKAGE_MARKER: {"cache": False}}]
    assert package_stage(composed("serving.enabled=false", *overrides), CODE) is None


@pytest.mark.parametrize(
    ("experiment", "titles"),
    [
        ((), ["ROC", "Precision-Recall", "Calibration"]),
        (("experiment=diabetes",), ["Residuals"]),
    ],
)
def test_plot_definitions_follow_the_task(experiment: tuple[str, ...], titles: list[str]) -> None:
    definitions = _plot_definitions(composed(*experiment))
    named = [next(iter(d)) for d in definitions]
    assert named == [*titles, "Feature importance (gain)", "Learning curve"]


def test_the_learning_curve_is_declared_only_when_evaluate_reads_the_history() -> None:
    unbound = composed("~pipeline.nodes.evaluate.inputs.history")
    assert "Learning curve" not in {next(iter(d)) for d in _plot_definitions(unbound)}


def test_a_stale_dvc_yaml_names_the_stages_that_differ(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    config = composed()
    check_dvc_yaml(config, root)  # the committed file is what the config generates
    document = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))
    document["stages"]["train"]["cmd"] = "python train.py"
    (root / "dvc.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(StaleFileError, match=r"stages that differ: \['train'\]"):
        check_dvc_yaml(config, root)
    (root / "dvc.yaml").unlink()
    with pytest.raises(StaleFileError, match=r"dvc\.yaml is missing: run `reprokit dvc generate`"):
        check_dvc_yaml(config, root)
