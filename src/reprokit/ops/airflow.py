"""The Airflow DAG file: dvc.yaml's stages as one task each, and the scheduled retrain loop.

Pure: the validated config and the stages dvc.yaml is rendered from (reprokit.dvcgen's
`stages_for`, the one model of dvc.yaml) in, Python source out. The file imports only
Airflow and the standard library, so it parses in Airflow's own environment, which cannot
share the project's lock.

Each task runs `dvc repro --single-item <stage>`, not `dvc repro <stage>`: Airflow already
runs the upstream stages as their own tasks, with their own retries and logs, and the plain
form would reproduce the whole upstream chain again inside every task. `--single-item` still
skips a stage whose deps and params are unchanged, so a scheduled run of an unchanged
project does nothing.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from pathlib import PurePosixPath

from reprokit.config.models import ReprokitConfig
from reprokit.core.env import TELEMETRY_OFF
from reprokit.dvcgen.generate import Stage
from reprokit.errors import ConfigError
from reprokit.ops.prometheus import seconds

DAG_FILE = PurePosixPath("ops/airflow/reprokit_dags.py")
PROJECT_DIR_ENV = "REPROKIT_PROJECT_DIR"
# Airflow's task ids (airflow.utils.helpers.KEY_REGEX).
_TASK_ID = re.compile(r"^[\w.-]+$")
# The project's ruff line length, which the generated file keeps to.
LINE_LENGTH = 100


def _outputs(stage: Stage) -> list[str]:
    return [*stage.outs, *stage.metrics, *stage.plots]


def _overlaps(dep: str, out: str) -> bool:
    """DVC links a dep to an out at the same path, inside it (an out directory) or holding
    it (a dep directory)."""
    a, b = PurePosixPath(dep), PurePosixPath(out)
    return a == b or b in a.parents or a in b.parents


def upstream_stages(stages: Sequence[Stage]) -> dict[str, list[str]]:
    """Stage -> the stages (in run order) one of whose outputs it depends on: DVC's graph."""
    return {
        stage.name: [
            other.name
            for other in stages
            if other.name != stage.name
            and any(_overlaps(dep, out) for dep in stage.deps for out in _outputs(other))
        ]
        for stage in stages
    }


def _check_task_ids(stages: Sequence[Stage]) -> None:
    bad = [stage.name for stage in stages if not _TASK_ID.match(stage.name)]
    if bad:
        raise ConfigError(
            f"pipelines {bad} (pipeline.pipelines in params.yaml) cannot be Airflow task ids: "
            "rename them with letters, digits, `_`, `-` and `.` only"
        )


def _literal(value: str | None) -> str:
    """A Python literal (double-quoted, as ruff formats it)."""
    return "None" if value is None else json.dumps(value)


def _constant(name: str, value: str) -> str:
    """`name = "value"` on one line: a string from the config cannot be wrapped, so a long
    one is exempt from the line length (ruff format leaves such a line as it is)."""
    line = f"{name} = {_literal(value)}"
    return line if len(line) <= LINE_LENGTH else f"{line}  # noqa: E501"


def _project_dir(configured: str | None) -> list[str]:
    if configured is not None:
        return [
            "# The project checkout: REPROKIT_PROJECT_DIR on the worker, else the configured",
            "# ops.airflow.project_dir.",
            _constant("CHECKOUT", configured),
            f'PROJECT_DIR = os.environ.get("{PROJECT_DIR_ENV}") or CHECKOUT',
        ]
    up = len(DAG_FILE.parents) - 1  # from ops/airflow/<file> to the checkout
    return [
        "# The project checkout: REPROKIT_PROJECT_DIR on the worker, else the one this file is",
        "# in (resolve() follows a symlink from the dags folder; a copy needs the variable).",
        f"CHECKOUT = str(Path(__file__).resolve().parents[{up}])",
        f'PROJECT_DIR = os.environ.get("{PROJECT_DIR_ENV}") or CHECKOUT',
    ]


def _stages_literal(upstream: dict[str, list[str]]) -> list[str]:
    lines = ["STAGES: dict[str, list[str]] = {"]
    for name, before in upstream.items():
        lines.append(f"    {_literal(name)}: [{', '.join(_literal(b) for b in before)}],")
    return [*lines, "}"]


def _env_literal() -> list[str]:
    lines = [
        'VENV_BIN = str(Path(PROJECT_DIR) / ".venv" / "bin")',
        "TASK_ENV = {",
        '    "PATH": os.pathsep.join([VENV_BIN, os.environ.get("PATH", os.defpath)]),',
    ]
    lines += [f"    {_literal(name)}: {_literal(value)}," for name, value in TELEMETRY_OFF.items()]
    return [*lines, "}"]


def _dag(dag_id: str, description: str, schedule: str | None) -> list[str]:
    return [
        "with DAG(",
        f"    dag_id={_literal(dag_id)},",
        f"    description={_literal(description)},",
        f"    schedule={_literal(schedule)},",
        "    **DAG_ARGS,",
    ]


def retrain_command(current: str) -> str:
    return f"reprokit retrain --if-drift --current {shlex.quote(current)}"


def dag_ids(config: ReprokitConfig) -> tuple[str, str]:
    """The pipeline DAG's id and the retrain DAG's, named after the project."""
    return f"{config.project.name}_pipeline", f"{config.project.name}_retrain"


def _preamble(config: ReprokitConfig) -> list[str]:
    pipeline_id, retrain_id = dag_ids(config)
    return [
        "# Generated by `reprokit ops generate` from dvc.yaml's stages and conf/ (ops.airflow):",
        "# do not edit. `reprokit ops check` (and `make check`) fail when this file is stale.",
        f'"""Airflow DAGs of the reprokit project `{config.project.name}` (Airflow 3).',
        "",
        f"{pipeline_id}: one task per dvc.yaml stage, `dvc repro --single-item <stage>` in the",
        "project checkout, after the stages whose outputs it reads; DVC still skips a stage",
        "whose deps and params are unchanged.",
        f"{retrain_id}: `reprokit retrain --if-drift`, which retrains on a drifted batch only.",
        "",
        "Deploy: symlink this file into Airflow's dags folder; the workers run the project's",
        "virtualenv (`make setup` in the checkout).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import os",
        "from datetime import datetime, timedelta, timezone",
        "from pathlib import Path",
        "from typing import Any",
        "",
        "from airflow.providers.standard.operators.bash import BashOperator",
        "from airflow.sdk import DAG",
        "",
    ]


def _settings(config: ReprokitConfig, stages: Sequence[Stage]) -> list[str]:
    """The module's constants: where and how the tasks run, the stage graph, the retrain
    command."""
    airflow = config.ops.airflow
    return [
        *_project_dir(airflow.project_dir),
        "# The tasks run the project's own dvc and reprokit, with every tool's telemetry off.",
        *_env_literal(),
        "DEFAULT_ARGS = {",
        '    "owner": "reprokit",',
        f'    "retries": {airflow.retries},',
        f'    "retry_delay": timedelta(seconds={seconds(airflow.retry_delay)}),',
        "}",
        "# One run and one task at a time: DVC locks the repository and reprokit the project.",
        "# When the two DAGs overlap, the second writer waits for the project lock",
        "# (REPROKIT_LOCK_TIMEOUT) and, past it, fails into its retries.",
        "DAG_ARGS: dict[str, Any] = {",
        "    # In the past, with catchup off: a deployment starts at its next schedule, no",
        "    # backfill. timezone.utc, not datetime.UTC: Airflow 3 also runs on Python 3.10.",
        '    "start_date": datetime(2025, 1, 1, tzinfo=timezone.utc),  # noqa: UP017',
        '    "catchup": False,',
        '    "max_active_runs": 1,',
        '    "max_active_tasks": 1,',
        '    "default_args": DEFAULT_ARGS,',
        '    "tags": ["reprokit"],',
        "}",
        "# dvc.yaml's stages in run order, each with the stages whose outputs it depends on.",
        *_stages_literal(upstream_stages(stages)),
        "# The retrain loop's command (ops.airflow.retrain.current: the newest labelled batch).",
        _constant("RETRAIN_COMMAND", retrain_command(airflow.retrain.current)),
    ]


def _dags(config: ReprokitConfig) -> list[str]:
    pipeline_id, retrain_id = dag_ids(config)
    airflow = config.ops.airflow
    return [
        "def _task(task_id: str, command: str) -> BashOperator:",
        "    return BashOperator(",
        "        task_id=task_id,",
        "        bash_command=command,",
        "        cwd=PROJECT_DIR,",
        "        env=TASK_ENV,",
        "        append_env=True,",
        "    )",
        "",
        "",
        *_dag(pipeline_id, "dvc.yaml's stages, one task each", airflow.schedule),
        ") as pipeline:",
        '    tasks = {stage: _task(stage, f"dvc repro --single-item {stage}") for stage in STAGES}',
        "    for stage, upstream in STAGES.items():",
        "        for before in upstream:",
        "            tasks[before] >> tasks[stage]",
        "",
        *_dag(retrain_id, "retrain on a drifted batch, gate, promote", airflow.retrain.schedule),
        ") as retrain:",
        '    _task("retrain", RETRAIN_COMMAND)',
    ]


def render_dag_file(config: ReprokitConfig, stages: Sequence[Stage]) -> str:
    """The DAG file's text: byte-identical for the same config and stages."""
    _check_task_ids(stages)
    lines = [*_preamble(config), *_settings(config, stages), "", "", *_dags(config)]
    return "\n".join(lines) + "\n"
