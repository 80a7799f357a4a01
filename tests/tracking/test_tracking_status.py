"""How a run ends: KILLED when its process died, FAILED with the error, FINISHED otherwise.

One project copy, three `reprokit run` executions in order:

1. on a large dataset, SIGKILLed (with its process group) once its run is RUNNING;
2. one with a config value longer than MLflow's param limit: it finishes, and on the way
   marks run 1 KILLED;
3. one whose quality gate cannot pass: FAILED, with the error recorded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import (
    Executed,
    Executions,
    all_runs,
    artifact_text,
    copy_project,
    store_client,
    tool_env,
    versions,
)

from reprokit.core.dotted import lookup

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tracking-status")]

LARGE = "data.source.rows=300000"
# Enough allowed values that the param's JSON text exceeds MLflow's 6000 characters; the
# real values come first, so the data still validates.
ISIN_KEY = "data.schema.columns.loan_term_months.isin"
ISIN = [12, 24, 36, 48, 60, *range(100_000, 100_800)]
LONG_OVERRIDE = f"{ISIN_KEY}=[{','.join(map(str, ISIN))}]"
GATE_OVERRIDE = "evaluation.gates.binary.roc_auc.min=0.99"
WAIT_FOR_RUN_SECONDS = 300


@dataclass
class Killed:
    run_id: str
    pid: int
    returncode: int


@dataclass
class Scenario:
    project: Path
    client: Any
    killed: Killed
    steps: dict[str, Executed]


def running_run(client: Any) -> Any | None:
    return next((r for r in all_runs(client) if r.info.status == "RUNNING"), None)


def wait_for_running_run(client: Any, process: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + WAIT_FOR_RUN_SECONDS
    while time.monotonic() < deadline:
        found = running_run(client)
        if found is not None:
            return found
        if process.poll() is not None:
            output = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            pytest.fail(
                f"reprokit run ended ({process.returncode}) before its run was seen:\n{output}"
            )
        time.sleep(0.2)
    pytest.fail(f"no RUNNING run within {WAIT_FOR_RUN_SECONDS} s")


def kill_mid_run(project: Path, client: Any) -> Killed:
    """`reprokit run` on a large dataset, SIGKILLed with its group once its run is RUNNING."""
    log = project / "killed-run.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["reprokit", "run", LARGE],
            cwd=project,
            env=tool_env(project),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole below
        )
        try:
            found = wait_for_running_run(client, process, log)
            assert process.poll() is None, "the execution finished before it could be killed"
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
    return Killed(run_id=found.info.run_id, pid=process.pid, returncode=process.returncode)


@pytest.fixture(scope="module")
def scenario(
    tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path
) -> Iterator[Scenario]:
    project = copy_project(
        tmp_path_factory.mktemp("tracking-status") / "project", mlflow_db_template
    )
    client = store_client(project)
    killed = kill_mid_run(project, client)
    execute = Executions(project, client)
    execute("long_param", ["reprokit", "run", LONG_OVERRIDE])
    execute("gate_fails", ["reprokit", "run", GATE_OVERRIDE], check=False)
    yield Scenario(project, client, killed, execute.steps)


# --- KILLED ---------------------------------------------------------------------------------------


def test_a_killed_execution_is_marked_killed_by_the_next_one(scenario: Scenario) -> None:
    assert scenario.killed.returncode == -signal.SIGKILL
    run_ = scenario.client.get_run(scenario.killed.run_id)
    assert run_.info.status == "KILLED"
    assert run_.info.end_time is not None
    assert run_.data.tags["rk.pid"] == str(scenario.killed.pid)
    note = run_.data.tags["rk.status_note"]
    assert f"process {scenario.killed.pid} ended without closing the run" in note


def test_the_killed_run_is_the_only_run_it_left(scenario: Scenario) -> None:
    # The next execution added its own run and did not reuse or duplicate the killed one.
    assert scenario.steps["long_param"].run.info.run_id != scenario.killed.run_id
    assert len(all_runs(scenario.client)) == 3


# --- FINISHED, with a param over MLflow's limit ------------------------------------------------


def test_a_long_schema_override_is_whole_in_the_composed_config(scenario: Scenario) -> None:
    """The schema is not a param (params are the experiment-defining keys), so MLflow's
    6,000-character limit does not apply: the run's composed config holds it whole."""
    run_ = scenario.steps["long_param"].run
    assert run_.info.status == "FINISHED"
    assert ISIN_KEY not in run_.data.params
    composed = yaml.safe_load(
        artifact_text(scenario.client, run_.info.run_id, "composed_config.yaml")
    )
    assert lookup(composed, ISIN_KEY) == ISIN


def test_the_composed_config_holds_the_whole_value(scenario: Scenario) -> None:
    run_ = scenario.steps["long_param"].run
    composed = yaml.safe_load(
        artifact_text(scenario.client, run_.info.run_id, "composed_config.yaml")
    )
    assert composed["data"]["schema"]["columns"]["loan_term_months"]["isin"] == ISIN
    assert run_.data.tags["rk.overrides"] == f'["{LONG_OVERRIDE}"]'


def test_the_finished_run_registers_its_model(scenario: Scenario) -> None:
    registered = versions(scenario.client)
    assert [mv.run_id for mv in registered] == [scenario.steps["long_param"].run.info.run_id]


# --- FAILED ------------------------------------------------------------------------------------


def test_a_failing_reprokit_run_ends_failed_with_the_error(scenario: Scenario) -> None:
    executed = scenario.steps["gate_fails"]
    assert executed.result.returncode == 1
    assert "roc_auc" in executed.result.stderr
    assert "Traceback" not in executed.result.stderr
    run_ = executed.run
    assert run_.info.status == "FAILED"
    error = run_.data.tags["rk.error"]
    assert error.startswith("QualityGateError: ")
    assert "0.99" in error
    assert artifact_text(scenario.client, run_.info.run_id, "error.txt") == error


def test_a_failed_run_registers_no_model(scenario: Scenario) -> None:
    failed = scenario.steps["gate_fails"].run.info.run_id
    assert failed not in {mv.run_id for mv in versions(scenario.client)}
