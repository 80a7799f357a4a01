"""Kedro works on the same project: `kedro run`, `kedro viz build`, and the notebook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import PROJECT_ROOT, copy_project, file_sha256, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kedro_project(
    tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path
) -> Iterator[Path]:
    project = copy_project(tmp_path_factory.mktemp("kedro") / "project", mlflow_db_template)
    run(["reprokit", "data", "prepare"], project)
    yield project


def test_kedro_run_and_reprokit_run_give_the_same_model(kedro_project: Path) -> None:
    run(["kedro", "run"], kedro_project)
    model = kedro_project / "data/06_models/model.txt"
    from_kedro = file_sha256(model)
    run(["reprokit", "run"], kedro_project)
    assert file_sha256(model) == from_kedro
    run(["kedro", "run", "--pipelines=train"], kedro_project)
    assert file_sha256(model) == from_kedro


def test_kedro_viz_build_shows_the_declared_pipelines(kedro_project: Path) -> None:
    """After the runs above wrote the data: layers, tags and dataset previews."""
    result = run(["kedro", "viz", "build", "--include-previews"], kedro_project, timeout=300)
    printed = result.stdout + result.stderr
    assert "circular dependency" not in printed  # the layer view is not disabled
    assert "Could not extract type hints" not in printed  # every node's hints resolve
    main = json.loads((kedro_project / "build/api/main").read_text())
    names = {node["name"] for node in main["nodes"]}
    assert {"split", "fit_features", "train", "evaluate"} <= names
    pipelines = {pipeline["id"] for pipeline in main["pipelines"]}
    assert {"prepare", "features", "train", "evaluate", "__default__"} <= pipelines
    # Layers from the data folders, in Kedro's order; each node tagged with its pipelines.
    assert main["layers"][:3] == ["raw", "intermediate", "primary"]
    assert "reporting" in main["layers"]
    assert {tag["id"] for tag in main["tags"]} == {"prepare", "features", "train", "evaluate"}
    by_name = {node["name"]: node for node in main["nodes"]}
    assert by_name["split"]["tags"] == ["prepare"]
    details = {
        name: json.loads((kedro_project / "build/api/nodes" / node["id"]).read_text())
        for name, node in by_name.items()
        if node["type"] == "data" and name in ("raw", "metrics")
    }
    assert details["raw"]["preview_type"] == "TablePreview"
    assert "customer_id" in details["raw"]["preview"]["columns"]
    assert len(details["raw"]["preview"]["data"]) == 5
    assert details["metrics"]["preview_type"] == "JSONPreview"
    assert "roc_auc" in details["metrics"]["preview"]


def test_notebook_loads_through_the_catalog(kedro_project: Path) -> None:
    """The committed notebook executes top to bottom against the project's catalog."""
    import nbformat
    from nbclient import NotebookClient

    run(["reprokit", "run"], kedro_project)
    (kedro_project / "notebooks").mkdir(exist_ok=True)
    notebook = nbformat.read(PROJECT_ROOT / "notebooks/explore.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(kedro_project / "notebooks")}},
    ).execute()
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert "credit binary target: default" in printed
    assert "roc_auc" in printed
