"""Sweep expansion with Hydra's grammar, the thread budget, shared nodes and the summary:
the pure parts of `reprokit run -m`, against the project's real conf/."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from reprokit.sweeps.expand import SweepError, expand
from reprokit.sweeps.launch_plan import shared_nodes, thread_budget
from reprokit.sweeps.multirun import compose_jobs
from reprokit.sweeps.summary import Ranking, Row, best, ordered, to_csv, to_markdown


def test_choice_lists_expand_to_their_cartesian_product(project_root: Path) -> None:
    plan = expand(project_root, ["model.num_leaves=15,31,63", "model.learning_rate=0.03,0.1"])
    assert len(plan.jobs) == 6
    assert plan.jobs[0] == ["model.num_leaves=15", "model.learning_rate=0.03"]
    assert plan.jobs[-1] == ["model.num_leaves=63", "model.learning_rate=0.1"]
    assert (plan.launcher, plan.n_jobs) == ("basic", None)


def test_range_and_glob_over_config_group_options(project_root: Path) -> None:
    plan = expand(project_root, ["split=glob(*)", "seed=range(1,3)", "model.max_depth=6"])
    options = sorted(p.stem for p in (project_root / "conf/split").glob("*.yaml"))
    assert len(plan.jobs) == len(options) * 2
    assert sorted({job[0] for job in plan.jobs}) == [f"split={o}" for o in options]
    assert {job[1] for job in plan.jobs} == {"seed=1", "seed=2"}
    assert all(job[2] == "model.max_depth=6" for job in plan.jobs)


def test_joblib_launcher_settings_are_taken_out_of_the_jobs(project_root: Path) -> None:
    plan = expand(
        project_root, ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "model.num_leaves=7,15"]
    )
    assert (plan.launcher, plan.n_jobs) == ("joblib", 2)
    assert plan.jobs == [["model.num_leaves=7"], ["model.num_leaves=15"]]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["model.num_leaves=15,,31"], "malformed override `model.num_leaves=15,,31`"),
        (["model.num_leaves=range(a,b)"], "malformed override `model.num_leaves=range(a,b)`"),
        (["model.learning_rate=interval(0.01,0.3)"], "`reprokit tune` searches it"),
        (["hydra/launcher=ray"], "unknown launcher 'ray'"),
        (["hydra.launcher.n_jobs=2"], "needs `hydra/launcher=joblib`"),
        (["hydra/launcher=joblib", "hydra.launcher.n_jobs=0"], "n_jobs must be a positive"),
        (["hydra.job.chdir=true"], "override `hydra.job.chdir=true`"),
        (["split=glob(nothing*)"], "expands to no job"),
    ],
)
def test_bad_sweeps_name_the_override(
    project_root: Path, arguments: list[str], message: str
) -> None:
    with pytest.raises(SweepError) as error:
        expand(project_root, arguments)
    assert message in str(error.value)


def test_every_job_is_validated_before_anything_runs(project_root: Path) -> None:
    from reprokit.errors import ConfigError

    plan = expand(project_root, ["model.num_leaves=range(0.5,2.5)"])
    with pytest.raises(ConfigError) as error:
        compose_jobs(project_root, plan.jobs)
    text = str(error.value)
    assert "job 0 (model.num_leaves=0.5)" in text
    assert "`model.num_leaves` (value 0.5) in the override `model.num_leaves=0.5`" in text
    with pytest.raises(ConfigError, match=r"model\.num_leafs"):
        compose_jobs(project_root, [["model.num_leafs=15"]])


@pytest.mark.parametrize(
    ("requested", "jobs", "configured", "cores", "expected"),
    [
        (2, 6, 0, 2, (2, 1)),
        (None, 6, 0, 8, (6, 1)),  # never more workers than jobs
        (4, 6, 0, 8, (4, 2)),
        (16, 20, 0, 4, (4, 1)),  # never more workers than cores
        (2, 6, 8, 8, (2, 4)),  # a configured thread count is capped by the budget
        (2, 6, 1, 8, (2, 1)),
        (1, 6, 0, 2, (1, 2)),
    ],
)
def test_workers_times_threads_never_exceed_the_cores(
    requested: int | None,
    jobs: int,
    configured: int,
    cores: int,
    expected: tuple[int, int],
) -> None:
    budget = thread_budget(requested, jobs, configured, cores)
    assert (budget.n_jobs, budget.threads) == expected
    assert budget.n_jobs * budget.threads <= cores


def test_shared_nodes_are_the_upstream_of_the_swept_params(project_root: Path) -> None:
    model_sweep = compose_jobs(project_root, [["model.num_leaves=7"], ["model.num_leaves=15"]])
    shared = shared_nodes(model_sweep)
    assert {"ingest", "split", "fit_features", "features_train"} <= set(shared)
    assert "train" not in shared and "evaluate" not in shared
    split_sweep = compose_jobs(project_root, [["seed=1"], ["seed=2"]])
    assert "split" not in shared_nodes(split_sweep)
    assert "ingest" in shared_nodes(split_sweep)
    data_sweep = compose_jobs(project_root, [[], ["data.source.rows=500"]])
    assert shared_nodes(data_sweep) == []


def _rows() -> list[Row]:
    return [
        Row(0, "FINISHED", ["a=1"], {"roc_auc": 0.7, "f1": 0.2}, 1.0, "r0"),
        Row(1, "FAILED", ["a=2"], {"roc_auc": 0.99}, 1.0, "r1", error="QualityGateError: x"),
        Row(2, "FINISHED", ["a=3"], {"roc_auc": 0.8}, 1.0, "r2"),
        Row(3, "FINISHED", ["a=4"], {"roc_auc": math.nan}, 1.0, "r3"),
    ]


def test_summary_is_best_first_with_failures_last() -> None:
    up = Ranking("roc_auc", "maximize")
    assert [row.job for row in ordered(_rows(), up)] == [2, 0, 3, 1]
    chosen = best(_rows(), up)
    assert chosen is not None and chosen.job == 2
    down = Ranking("roc_auc", "minimize")
    assert [row.job for row in ordered(_rows(), down)] == [0, 2, 3, 1]
    csv_text = to_csv(_rows(), up)
    lines = csv_text.splitlines()
    assert lines[0].startswith("job,status,overrides,roc_auc,f1,seconds")
    assert lines[1].startswith("2,FINISHED,a=3,0.8")
    assert lines[-1].startswith("1,FAILED,a=2,0.99") and "QualityGateError: x" in lines[-1]
    markdown = to_markdown(_rows(), up, "sweep s")
    assert "Ranked by `roc_auc` (maximize)" in markdown
    assert "| 1 | FAILED | a=2 |" in markdown


def test_no_best_when_every_job_failed() -> None:
    rows = [Row(0, "FAILED", [], {"roc_auc": 0.9})]
    assert best(rows, Ranking("roc_auc", "maximize")) is None


def test_the_search_space_is_the_sweeps_key_value_arguments() -> None:
    from reprokit.sweeps.track import search_space

    assert search_space(
        ["model.num_leaves=15,31", "+features.extra=interval(0,1)", "--flag", "=x"]
    ) == {"model.num_leaves": "15,31", "features.extra": "interval(0,1)"}
