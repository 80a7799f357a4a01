"""`reprokit run -m hydra/launcher=dask`: jobs as tasks on a Dask cluster's workers.

- the launcher's settings (`n_jobs`, `address`) and the refusal of `engine=dask` in a job;
- a job whose worker dies is that job's FAILED result (KilledWorker), the others go on;
- end to end with the real CLI, a LocalCluster of 2 workers and an MLflow SQLite store:
  one parent and one child run per job, no run twice, the thread budget, every model
  identical to the same job rerun in-process (`reprokit reproduce`), no worker left after.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from tests.support import copy_project
from tests.support.sweeps import SMALL, events, reprokit, sweep_id_of, sweep_runs

from reprokit.config.models import EngineConfig
from reprokit.sweeps.dask_launcher import dask_engine, launch_on_dask, refuse_dask_engine
from reprokit.sweeps.expand import SweepError, expand
from reprokit.sweeps.jobs import JobResult, JobSpec
from reprokit.sweeps.launch_plan import THREADS_KEY, plan_launch
from reprokit.sweeps.multirun import compose_jobs

ADDRESS = "tcp://127.0.0.1:8786"


def test_dask_launcher_settings_are_taken_out_of_the_jobs(project_root: Path) -> None:
    plan = expand(
        project_root, ["hydra/launcher=dask", "hydra.launcher.n_jobs=2", "model.num_leaves=7,15"]
    )
    assert (plan.launcher, plan.n_jobs, plan.address) == ("dask", 2, None)
    assert plan.jobs == [["model.num_leaves=7"], ["model.num_leaves=15"]]
    remote = expand(
        project_root, ["hydra/launcher=dask", f"hydra.launcher.address={ADDRESS}", "seed=1,2"]
    )
    assert (remote.launcher, remote.n_jobs, remote.address) == ("dask", None, ADDRESS)
    assert remote.jobs == [["seed=1"], ["seed=2"]]
    assert expand(project_root, ["hydra/launcher=dask"]).jobs == [[]]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            [f"hydra.launcher.address={ADDRESS}"],
            f"override `hydra.launcher.address={ADDRESS}`: `hydra.launcher.address` needs "
            "`hydra/launcher=dask`",
        ),
        (
            ["hydra/launcher=joblib", f"hydra.launcher.address={ADDRESS}"],
            "`hydra.launcher.address` needs `hydra/launcher=dask`",
        ),
        (
            ["hydra/launcher=dask", f"hydra.launcher.address={ADDRESS}", "hydra.launcher.n_jobs=2"],
            "override `hydra.launcher.n_jobs=2`: n_jobs sizes a local Dask cluster",
        ),
        (["hydra/launcher=dask", "hydra.launcher.n_jobs=0"], "n_jobs must be a positive"),
        (["hydra/launcher=dask", "hydra.launcher.n_jobs=-2"], "n_jobs must be a positive"),
        (["hydra/launcher=dask", "hydra.launcher.n_jobs=two"], "n_jobs must be a positive"),
        (["hydra/launcher=dask", "hydra.launcher.address="], "a Dask scheduler's address"),
        (["hydra/launcher=basic", "hydra.launcher.n_jobs=2"], "or `hydra/launcher=dask`"),
        (["hydra/launcher=dask", "hydra.launcher.workers=2"], "hydra/launcher=basic|joblib|dask"),
        (["hydra/launcher=ray"], "expected one of ['basic', 'joblib', 'dask']"),
    ],
)
def test_bad_dask_launcher_settings_name_the_override(
    project_root: Path, arguments: list[str], message: str
) -> None:
    with pytest.raises(SweepError) as error:
        expand(project_root, arguments)
    assert message in str(error.value)


def test_a_job_on_the_dask_engine_is_refused_up_front(project_root: Path) -> None:
    plan = expand(project_root, ["hydra/launcher=dask", "engine=local,dask"])
    workspaces = compose_jobs(project_root, plan.jobs)
    with pytest.raises(SweepError) as error:
        refuse_dask_engine(plan.jobs, workspaces)
    text = str(error.value)
    assert text.startswith("job 1 (engine=dask): engine.kind=dask under `hydra/launcher=dask`")
    assert "would start a cluster per job" in text
    local = expand(project_root, ["hydra/launcher=dask", "engine=local"])
    refuse_dask_engine(local.jobs, compose_jobs(project_root, local.jobs))  # accepted


def test_thread_budget_on_a_local_cluster_and_none_on_a_remote_one(project_root: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    plan = expand(project_root, ["hydra/launcher=dask", "hydra.launcher.n_jobs=2", "seed=1,2,3"])
    launch = plan_launch(plan, 0, cores)
    budget = launch.budget
    workers = min(2, cores)
    assert (budget.n_jobs, budget.threads) == (workers, max(1, cores // workers))
    assert launch.extra == (f"{THREADS_KEY}={budget.threads}",)
    assert launch.how.endswith(f"{budget.threads} threads on a local Dask cluster")
    assert dask_engine(launch) == EngineConfig(
        kind="dask", n_workers=workers, threads_per_worker=1, memory_limit="auto"
    )
    remote = expand(
        project_root, ["hydra/launcher=dask", f"hydra.launcher.address={ADDRESS}", "seed=1,2"]
    )
    launch = plan_launch(remote, 3, cores)
    assert launch.extra == ()  # the workers' engine.num_threads stays as configured
    assert launch.how == f"on the Dask cluster at {ADDRESS} ({THREADS_KEY} as configured)"
    assert dask_engine(launch).address == ADDRESS


def _worker_children() -> list[psutil.Process]:
    """This process's Dask worker (and nanny) processes: multiprocessing spawns them (its
    resource tracker, also a child, lives as long as this process and is left out)."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.is_running() and "spawn_main" in " ".join(process.cmdline()):
                found.append(process)
        except psutil.Error:
            continue
    return found


def _gone(check: Callable[[], object], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not check():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_a_job_whose_worker_dies_fails_alone(project_root: Path, tmp_path: Path) -> None:
    from reprokit.engines.dask.cluster import dask_client

    def job(spec: JobSpec) -> JobResult:
        if spec.index == 1:
            os._exit(1)  # the worker process dies mid-job (as when killed or out of memory)
        return JobResult(spec.index, spec.overrides, "FINISHED", 0, 0, 0.0)

    specs = [
        JobSpec(i, (f"seed={i}",), project_root, tmp_path / "s" / f"job-{i}", ("__default__",))
        for i in range(3)
    ]
    config = EngineConfig(kind="dask", n_workers=2, threads_per_worker=1, memory_limit="1GiB")
    with dask_client(config) as client:
        assert _worker_children()
        results = {r.index: r for r in launch_on_dask(client, specs, job=job)}
    assert [results[i].status for i in range(3)] == ["FINISHED", "FAILED", "FINISHED"]
    error = results[1].error or ""
    assert (
        error.startswith("KilledWorker: ") and "the worker process running this job died" in error
    )
    assert results[1].overrides == ("seed=1",) and results[1].error_detail
    assert results[1].params["seed"] == 1  # its MLflow run gets the job's own params
    assert _gone(_worker_children), [p.cmdline() for p in _worker_children()]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Path:
    return copy_project(tmp_path_factory.mktemp("dask-sweeps") / "project", mlflow_db_template)


def _processes_in(root: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if Path(process.cwd()) == root:
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def _port_open(address: str) -> bool:
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.xdist_group("sweeps")
def test_dask_sweep_on_a_local_cluster(project: Path) -> None:
    result = reprokit(
        project,
        "run",
        "-m",
        "hydra/launcher=dask",
        "hydra.launcher.n_jobs=2",
        *SMALL,
        "evaluation=none",
        "model.num_leaves=7,15,31",
    )
    cores = len(os.sched_getaffinity(0))
    workers = min(2, cores)
    threads = max(1, cores // workers)
    assert f"{workers} in parallel x {threads} threads on a local Dask cluster" in result.stdout
    [started] = events(result, "dask.cluster.start")
    assert started["workers"] == workers and started["threads_per_worker"] == 1

    sweep_id = sweep_id_of(result)
    parent, jobs = sweep_runs(project, sweep_id)
    assert parent.info.status == "FINISHED"
    # One child run per job, each job once, all logged by the sweep's own process.
    assert [r.data.tags["rk.sweep_job"] for r in jobs] == ["0", "1", "2"]
    assert len({r.info.run_id for r in jobs}) == 3
    assert all(r.info.status == "FINISHED" for r in jobs)
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in jobs)
    assert [json.loads(r.data.tags["rk.overrides"])[-1] for r in jobs] == [
        "model.num_leaves=7",
        "model.num_leaves=15",
        "model.num_leaves=31",
    ]
    assert all(r.data.params["engine.num_threads"] == str(threads) for r in jobs)
    done = sorted(e["job"] for e in events(result, "sweep.job_done") if e["job"] >= 0)
    assert done == [0, 1, 2]  # no job ran twice (job -1: the shared upstream)
    # The shared upstream ran once in this process, before the jobs; every job reused it.
    assert [e["nodes"] for e in events(result, "sweep.upstream_pass")]
    assert all("ingest" in json.loads(r.data.tags["rk.reused_nodes"]) for r in jobs)

    # The cluster is gone with the command: its scheduler port is closed, no worker is left.
    assert not _port_open(started["scheduler"])
    assert _gone(lambda: _processes_in(project)), [p.cmdline() for p in _processes_in(project)]

    # Each job's model and metrics equal the same job rerun sequentially in-process.
    reproduced = reprokit(project, "reproduce", parent.info.run_id).stdout
    assert reproduced.count("\nIDENTICAL") == 3
    assert "3 jobs reproduced" in reproduced
