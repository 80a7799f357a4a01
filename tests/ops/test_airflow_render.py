"""The Airflow DAG file as reprokit renders it, without Airflow: the stage graph, the config
it reads, determinism and the staleness check. (Airflow's own parser: test_airflow_dag.py.)"""

from __future__ import annotations

import ast
import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from tests.support import PROJECT_ROOT, VENV_BIN, copy_project, run

from reprokit.config.compose import read_params, validate
from reprokit.config.models import ReprokitConfig
from reprokit.core.content.params import result_config
from reprokit.dvcgen import stages_for
from reprokit.dvcgen.generate import TRACK_STAGE, Stage
from reprokit.errors import ConfigError, StaleFileError
from reprokit.ops.airflow import DAG_FILE, render_dag_file, upstream_stages
from reprokit.ops.generate import check, write


@cache
def _params() -> dict[str, Any]:
    return read_params(PROJECT_ROOT)


def _config(**airflow: Any) -> ReprokitConfig:
    params = copy.deepcopy(_params())
    params["ops"]["airflow"].update(airflow)
    return validate(params)


def _assigned(text: str, name: str) -> ast.expr:
    """The value expression of the module-level `name = ...` in `text`."""
    for statement in ast.parse(text).body:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return value
    raise AssertionError(f"{name} is not assigned in the DAG file")


def test_edges_follow_deps_into_and_out_of_directories_as_dvc_links_them() -> None:
    stages = [
        Stage(name="a", cmd="", outs=["data/a.parquet", "data/plots"]),
        Stage(name="b", cmd="", deps=["data/a.parquet"], metrics=["data/m.json"]),
        # A file inside an out directory, and a directory holding an out.
        Stage(name="c", cmd="", deps=["data/plots/roc.csv", "data"]),
        Stage(name="d", cmd="", deps=["data/a.parquet.bak", "src/x.py"], outs=["data/d"]),
    ]
    assert upstream_stages(stages) == {"a": [], "b": ["a"], "c": ["a", "b", "d"], "d": []}


def test_the_dag_runs_each_stage_of_dvc_yaml_after_the_stages_it_reads() -> None:
    config = _config()
    text = render_dag_file(config, stages_for(config, PROJECT_ROOT))
    graph = ast.literal_eval(_assigned(text, "STAGES"))
    stages = ["data", "prepare", "features", "train", "evaluate", "track", "package", "materialize"]
    assert list(graph) == stages
    assert graph["evaluate"] == ["prepare", "features", "train"]
    assert graph["materialize"] == ["prepare"]
    assert graph[TRACK_STAGE] == ["data", "features", "train", "evaluate"]
    assert 'f"dvc repro --single-item {stage}"' in text
    retrain = "reprokit retrain --if-drift --current data/new_batch.parquet"
    assert ast.literal_eval(_assigned(text, "RETRAIN_COMMAND")) == retrain
    assert '_task("retrain", RETRAIN_COMMAND)' in text


def test_retries_schedule_and_project_dir_come_from_ops_airflow() -> None:
    config = _config(
        retries=5, retry_delay="90s", schedule="0 3 * * 1", project_dir="/srv/my project"
    )
    config = config.model_copy(
        update={"project": config.project.model_copy(update={"name": "credit-risk"})}
    )
    text = render_dag_file(config, stages_for(config, PROJECT_ROOT))
    args = _assigned(text, "DEFAULT_ARGS")
    assert isinstance(args, ast.Dict)
    values = dict(zip([ast.literal_eval(k) for k in args.keys if k], args.values, strict=True))
    assert ast.literal_eval(values["retries"]) == 5
    assert ast.unparse(values["retry_delay"]) == "timedelta(seconds=90)"
    assert 'dag_id="credit-risk_pipeline"' in text and 'schedule="0 3 * * 1"' in text
    assert 'dag_id="credit-risk_retrain"' in text and 'schedule="@daily"' in text
    assert ast.literal_eval(_assigned(text, "CHECKOUT")) == "/srv/my project"
    assert 'PROJECT_DIR = os.environ.get("REPROKIT_PROJECT_DIR") or CHECKOUT' in text


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("retrys", 3, "unknown key `ops.airflow.retrys`"),
        ("project_dir", "relative/dir", "must be an absolute path"),
        ("schedule", "daily", "`ops.airflow.schedule` (value 'daily')"),
    ],
)
def test_ops_airflow_rejects_unknown_keys_and_bad_values(
    key: str, value: Any, expected: str
) -> None:
    with pytest.raises(ConfigError, match=r"params\.yaml") as raised:
        _config(**{key: value})
    assert expected in str(raised.value)


def test_a_pipeline_airflow_cannot_name_is_refused_with_the_key_to_rename() -> None:
    config = _config()
    stages = [Stage(name="my pipeline", cmd="reprokit stage 'my pipeline'")]
    with pytest.raises(ConfigError, match=r"\['my pipeline'\] \(pipeline.pipelines"):
        render_dag_file(config, stages)


def test_ops_settings_are_not_part_of_the_experiment() -> None:
    """Changing a retry count must neither rerun `track` (dvc.yaml params) nor change the
    fingerprint's config."""
    config = _config(retries=7)
    (track,) = [s for s in stages_for(config, PROJECT_ROOT) if s.name == TRACK_STAGE]
    assert "ops" not in track.params
    assert "ops" not in result_config(config.model_dump(by_alias=True))


def test_the_file_stays_lint_clean_with_long_config_values(tmp_path: Path) -> None:
    """`make lint` runs ruff on ops/: a long path from the config must not break it."""
    long = "/srv/" + "a-very-long-directory-name/" * 5
    config = _config(project_dir=long, retrain={"current": f"{long}new batch.parquet"})
    dag = tmp_path / "dags.py"
    dag.write_text(render_dag_file(config, stages_for(config, PROJECT_ROOT)), encoding="utf-8")
    settings = ["--config", str(PROJECT_ROOT / "pyproject.toml"), str(dag)]
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        run([str(Path(VENV_BIN) / "ruff"), *command, *settings], tmp_path)


def test_rendering_is_deterministic_and_the_check_names_a_stale_dag(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    config = _config()
    assert render_dag_file(config, stages_for(config, root)) == render_dag_file(
        _config(), stages_for(_config(), PROJECT_ROOT)
    )
    write(config, root)
    first = (root / DAG_FILE).read_bytes()
    write(config, root)
    assert (root / DAG_FILE).read_bytes() == first
    check(config, root)

    with pytest.raises(StaleFileError, match=r"\['ops/airflow/reprokit_dags\.py'\]"):
        check(_config(retries=3), root)
    (root / DAG_FILE).write_text(first.decode().replace("retries", "tries"), encoding="utf-8")
    with pytest.raises(StaleFileError, match=r"ops/airflow/reprokit_dags\.py"):
        check(config, root)
