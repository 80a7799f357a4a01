"""The generated DAG file parses in Airflow itself (a DagBag of its folder, no import error),
and its tasks and edges are dvc.yaml's stages and DVC's own graph of them.

Airflow lives in its own venv, .airflow/ (`make airflow-tools`): it cannot share uv.lock.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from tests.support import PROJECT_ROOT, copy_project, git_init, run

from reprokit.config.compose import load_config
from reprokit.ops.airflow import DAG_FILE, dag_ids, retrain_command

AIRFLOW_PYTHON = PROJECT_ROOT / ".airflow" / "bin" / "python"

# Runs in Airflow's venv: the DagBag of the folder, as JSON (no metadata database needed).
PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "import_errors": bag.import_errors,
    "dags": {
        dag_id: {
            "schedule": dag.schedule if isinstance(dag.schedule, str) else None,
            "max_active_tasks": dag.max_active_tasks,
            "tasks": {
                task.task_id: {
                    "upstream": sorted(task.upstream_task_ids),
                    "bash_command": task.bash_command,
                    "cwd": task.cwd,
                    "retries": task.retries,
                    "retry_delay": task.retry_delay.total_seconds(),
                }
                for task in dag.tasks
            },
        }
        for dag_id, dag in bag.dags.items()
    },
}))
"""


def airflow_python() -> Path:
    if not AIRFLOW_PYTHON.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{AIRFLOW_PYTHON} missing: `make airflow-tools` installs Airflow")
        pytest.skip("Airflow's venv .airflow/ is absent (`make airflow-tools`)")
    return AIRFLOW_PYTHON


def parse_in_airflow(folder: Path, home: Path) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        # Airflow 3.3's DagBag has no include_examples: the config says it.
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "false",
        "SCARF_ANALYTICS": "false",
        "DO_NOT_TRACK": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    result = run([str(airflow_python()), "-c", PARSE, str(folder)], cwd=home, env=env)
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def dvc_graph(root: Path) -> set[tuple[str, str]]:
    """(upstream, downstream) stage pairs as DVC itself links them."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {(up.name, down.name) for down, up in repo.index.graph.edges}


@pytest.mark.slow
def test_the_generated_dags_parse_in_airflow_as_dvcs_stage_graph(tmp_path: Path) -> None:
    airflow_python()
    root = copy_project(tmp_path / "project")
    git_init(root)
    run(["reprokit", "ops", "generate"], root)
    config = load_config(root)
    pipeline_id, retrain_id = dag_ids(config)

    home = tmp_path / "airflow"
    home.mkdir()
    parsed = parse_in_airflow(root / DAG_FILE.parent, home)

    assert parsed["import_errors"] == {}
    assert set(parsed["dags"]) == {pipeline_id, retrain_id}
    pipeline = parsed["dags"][pipeline_id]
    edges = dvc_graph(root)
    stages = {name for edge in edges for name in edge}
    assert set(pipeline["tasks"]) == stages
    assert {
        (up, name) for name, task in pipeline["tasks"].items() for up in task["upstream"]
    } == edges
    assert pipeline["max_active_tasks"] == 1
    airflow = config.ops.airflow
    for name, task in pipeline["tasks"].items():
        assert task["bash_command"] == f"dvc repro --single-item {name}"
        assert task["cwd"] == str(root.resolve())
        assert (task["retries"], task["retry_delay"]) == (airflow.retries, 300)

    retrain = parsed["dags"][retrain_id]
    assert retrain["schedule"] == airflow.retrain.schedule == "@daily"
    assert retrain["tasks"]["retrain"]["bash_command"] == retrain_command(airflow.retrain.current)
