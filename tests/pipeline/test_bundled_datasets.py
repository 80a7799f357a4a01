"""The same pipeline runs on the bundled real datasets with config changes only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reprokit.config.compose import workspace_from_conf
from reprokit.datagen.prepare import ensure_source
from reprokit.runner import run_pipelines


@pytest.mark.parametrize(
    ("experiment", "metric", "bound"),
    [("breast_cancer", "roc_auc", 0.95), ("wine", "roc_auc_ovr", 0.95), ("diabetes", "r2", 0.2)],
)
def test_experiment_runs_end_to_end(
    experiment: str, metric: str, bound: float, project_copy: Path
) -> None:
    workspace = workspace_from_conf(
        project_copy, [f"experiment={experiment}", "tracking=none", "serving=none"]
    )
    data = workspace.config.data
    ensure_source(data.source.model_dump(), data.path, project_copy)
    run_pipelines(workspace.config, workspace.params, project_copy)
    metrics = json.loads((project_copy / "data/08_reporting/metrics.json").read_text())
    assert metrics[metric] >= bound
    assert (project_copy / "data/06_models/model.txt").read_text().startswith("tree\n")
