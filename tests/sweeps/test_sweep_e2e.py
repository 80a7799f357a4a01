"""End to end, with the real CLI and a real MLflow SQLite store in a project copy:

- `reprokit run -m`: one parent run and one child run per job, the summary, a failing job
  recorded FAILED while the others go on, upstream nodes computed once (logs), `sweeps show`,
  and `reprokit reproduce <parent>` verifying every finished job;
- `hydra/launcher=joblib`: parallel jobs within the thread budget, no run twice;
- `reprokit tune`: trials as child runs, resumed from the Optuna storage;
- `dvc exp run --queue -S` with a sweep: each queued experiment is an MLflow run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.support import PROJECT_ROOT, copy_project, git_init, store_client, tool_env
from tests.support.sweeps import SMALL, events, reprokit, sweep_id_of, sweep_runs

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sweeps")]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Path:
    return copy_project(tmp_path_factory.mktemp("sweeps") / "project", mlflow_db_template)


def test_multirun_tracks_each_job_under_one_parent(project: Path) -> None:
    # 4 jobs; the two with an unreachable quality gate fail, the others go on.
    result = reprokit(
        project,
        "run",
        "-m",
        *SMALL,
        "model.num_leaves=7,15",
        "evaluation.gates.binary.roc_auc.min=0.0,0.999",
        expect=1,
    )
    assert "2 of 4 jobs of sweep" in result.stderr and "failed: jobs [1, 3]" in result.stderr
    sweep_id = sweep_id_of(result)
    parent, jobs = sweep_runs(project, sweep_id)
    assert [r.data.tags["rk.sweep_job"] for r in jobs] == ["0", "1", "2", "3"]
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in jobs)
    assert [r.info.status for r in jobs] == ["FINISHED", "FAILED", "FINISHED", "FAILED"]
    assert json.loads(jobs[1].data.tags["rk.overrides"]) == [
        *SMALL,
        "model.num_leaves=7",
        "evaluation.gates.binary.roc_auc.min=0.999",
    ]
    assert "QualityGateError" in jobs[1].data.tags["rk.error"]
    assert "roc_auc" in jobs[1].data.metrics  # a failed job's metrics are kept
    assert all(r.data.tags.get("rk.fingerprint") for r in jobs)
    assert parent.info.status == "FAILED"  # some jobs failed
    # The search space is the parent's params; its description is the ranked summary.
    assert parent.data.params["model.num_leaves"] == "7,15"
    assert "Ranked by `roc_auc`" in parent.data.tags["mlflow.note.content"]

    # The parent holds the summary (best first) and the best job's metrics.
    finished = [r for r in jobs if r.info.status == "FINISHED"]
    best = max(finished, key=lambda r: r.data.metrics["roc_auc"])
    assert parent.data.tags["rk.best_run_id"] == best.info.run_id
    assert parent.data.metrics["roc_auc"] == best.data.metrics["roc_auc"]
    store = store_client(project)
    csv_path = store.download_artifacts(parent.info.run_id, "sweep_summary.csv", str(project))
    lines = Path(csv_path).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5
    assert lines[1].split(",")[0] == best.data.tags["rk.sweep_job"]
    assert lines[-1].split(",")[1] == "FAILED" and lines[-2].split(",")[1] == "FAILED"
    assert "best: job" in result.stdout
    local = project / ".reprokit/sweeps" / sweep_id / "summary.csv"  # with tracking off too
    assert local.read_text(encoding="utf-8").splitlines() == lines

    # Upstream nodes were computed by the first job only; the three others reused them.
    computed = [e["node"] for e in events(result, "node.computed")]
    reused = [e["node"] for e in events(result, "node.reused")]
    for node in ("ingest", "split", "fit_features", "features_train"):
        assert computed.count(node) == 1 and reused.count(node) == 3
    # Jobs differing only in the gate train the same model: training is reused too.
    assert computed.count("train") == 2 and reused.count("train") == 2

    shown = reprokit(project, "sweeps", "show", sweep_id).stdout
    rows = [line for line in shown.splitlines() if re.match(r"│ \d", line)]  # not wrapped lines
    assert len(rows) == 4 and "FAILED" in rows[-1] and "FINISHED" in rows[0]
    assert best.info.run_id in rows[0]
    assert "2 of 4 jobs FAILED: [1, 3]" in shown

    # Rerun the sweep: every finished job reproduces bit for bit, the failed ones are skipped.
    reproduced = reprokit(project, "reproduce", parent.info.run_id).stdout
    assert reproduced.count("\nIDENTICAL") == 2
    assert "2 jobs reproduced, 2 skipped: IDENTICAL" in reproduced


def test_parallel_jobs_within_the_thread_budget(project: Path) -> None:
    result = reprokit(
        project,
        "run",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        *SMALL,
        "evaluation=none",
        "model.num_leaves=7,15,31",
    )
    cores = len(os.sched_getaffinity(0))
    workers = min(2, cores)
    threads = max(1, cores // workers)
    assert f"{workers} in parallel x {threads} threads" in result.stdout
    parent, jobs = sweep_runs(project, sweep_id_of(result))
    assert parent.info.status == "FINISHED"
    assert len(jobs) == 3 and len({r.info.run_id for r in jobs}) == 3
    assert sorted(json.loads(r.data.tags["rk.overrides"])[-1] for r in jobs) == [
        "model.num_leaves=15",
        "model.num_leaves=31",
        "model.num_leaves=7",
    ]
    assert all(r.data.params["engine.num_threads"] == str(threads) for r in jobs)
    # The shared upstream ran once, before the workers; every job reused it.
    assert [e["nodes"] for e in events(result, "sweep.upstream_pass")]
    assert all("ingest" in json.loads(r.data.tags["rk.reused_nodes"]) for r in jobs)
    # Same fingerprint parts whatever the thread count: only the model params differ.
    assert len({r.data.tags["rk.md5.raw"] for r in jobs}) == 1


def test_tune_records_trials_and_resumes(project: Path) -> None:
    space = [*SMALL, "evaluation=none", "model.num_leaves=int(range(4,64))"]
    first = reprokit(project, "tune", *space, "--trials", "2", "--study-name", "t1").stdout
    assert "0 trials done, 2 to run" in first
    parent_line = next(line for line in first.splitlines() if line.startswith("parent run "))
    second = reprokit(project, "tune", *space, "--trials", "3", "--study-name", "t1").stdout
    assert "2 trials done, 1 to run" in second
    assert parent_line in second  # the same parent run goes on
    parent, jobs = sweep_runs(project, "t1")
    assert len(jobs) == 3 and all(r.info.status == "FINISHED" for r in jobs)
    leaves = [json.loads(r.data.tags["rk.overrides"])[-1] for r in jobs]
    assert len(set(leaves)) == 3  # the resumed search did not replay earlier trials
    import optuna

    study = optuna.load_study(
        study_name="t1", storage=f"sqlite:///{project / '.reprokit/optuna.db'}"
    )
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert parent.data.tags["rk.best_run_id"] in {r.info.run_id for r in jobs}


def test_tune_prunes_trials_behind_the_median(project: Path) -> None:
    # Tiny learning rates trail the others at every iteration. A continuous range: a value
    # drawn twice would reuse the first trial's cached model and train nothing to judge.
    space = [*SMALL, "evaluation=none", "model.learning_rate=tag(log,interval(0.00001,0.3))"]
    out = reprokit(project, "tune", *space, "--trials", "8", "--study-name", "p1").stdout
    import optuna

    study = optuna.load_study(
        study_name="p1", storage=f"sqlite:///{project / '.reprokit/optuna.db'}"
    )
    states = {t.number: t.state.name for t in study.trials}
    pruned = {n for n, state in states.items() if state == "PRUNED"}
    assert set(states.values()) <= {"COMPLETE", "PRUNED"} and pruned, states
    # Never before the pruner's 3 startup trials; only trials slower than the best.
    assert min(pruned) >= 3
    best_rate = study.best_trial.params["model.learning_rate"]
    assert all(study.trials[n].params["model.learning_rate"] < best_rate for n in pruned)
    _, jobs = sweep_runs(project, "p1")
    killed = {int(r.data.tags["rk.sweep_job"]) for r in jobs if r.info.status == "KILLED"}
    assert killed == pruned
    assert all(
        "pruned at iteration" in r.data.tags["rk.pruned"] for r in jobs if r.info.status == "KILLED"
    )
    assert "PRUNED" in out


def test_dvc_queued_sweep_is_tracked(
    tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path
) -> None:
    root = copy_project(tmp_path_factory.mktemp("dvc-exp") / "project", mlflow_db_template)
    shutil.copy2(PROJECT_ROOT / ".gitignore", root / ".gitignore")
    # Small and quick: 1000 rows, no quality gate, no BentoML packaging stage.
    credit = root / "conf/data/credit.yaml"
    credit.write_text(credit.read_text().replace("rows: 10000", "rows: 1000"))
    config = root / "conf/config.yaml"
    text = config.read_text().replace("- serving: default", "- serving: none")
    config.write_text(text.replace("- evaluation: default", "- evaluation: none"))
    reprokit(root, "config", "compose")
    reprokit(root, "dvc", "generate")
    git_init(root)

    def dvc(*args: str) -> str:
        done = subprocess.run(
            ["dvc", *args],
            cwd=root,
            env=tool_env(root),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"dvc {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout

    queued = dvc("exp", "run", "--queue", "-S", "model.num_leaves=15,31")
    assert queued.count("Queued experiment") == 2
    dvc("queue", "start")
    for _ in range(300):
        status = dvc("queue", "status")
        if "Queued" not in status and "Running" not in status:
            break
        subprocess.run(["sleep", "1"], check=True)
    assert status.count("Success") == 2, status
    shown = json.loads(dvc("exp", "show", "--json"))
    experiments = {
        exp["name"]: exp
        for baseline in shown
        for exp in (baseline.get("experiments") or [])
        if exp.get("name")
    }
    assert len(experiments) == 2
    store = store_client(root)
    experiment = store.get_experiment_by_name("reprokit").experiment_id
    runs = store.search_runs([experiment], "tags.`rk.dvc_exp` != ''")
    assert {r.data.tags["rk.dvc_exp"] for r in runs} == set(experiments)
    assert {r.data.params["model.num_leaves"] for r in runs} == {"15", "31"}
    assert len({r.data.tags["rk.fingerprint"] for r in runs}) == 2
    assert all(r.info.status == "FINISHED" for r in runs)
