"""Content-keyed node reuse: upstream nodes run once, and any change to a node's input data,
params or code recomputes it (never a stale output). In-process runs on a project copy."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tests.support import copy_project, file_sha256

from reprokit.node_cache import CACHE_DIR
from reprokit.sweeps.jobs import JobResult, JobSpec, compose_job, run_job

SMALL = ("data.source.rows=2000", "tracking=none", "evaluation=none")
UPSTREAM = {"ingest", "split", "fit_features", "features_train", "features_valid", "features_test"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from reprokit.datagen.prepare import ensure_source

    project = copy_project(tmp_path_factory.mktemp("reuse") / "project")
    data = compose_job(project, SMALL).config.data
    ensure_source(data.source.model_dump(), data.path, project)
    return project


def job(root: Path, name: str, *overrides: str, reuse: bool = True) -> JobResult:
    spec = JobSpec(
        index=0,
        overrides=(*SMALL, *overrides),
        root=root,
        job_dir=root / ".reprokit/test-jobs" / name,
        pipelines=("__default__",),
        reuse=reuse,
    )
    result = run_job(spec)
    assert result.status == "FINISHED", result.error_detail
    return result


def model_file(result: JobResult) -> Path:
    return Path(result.catalog["model"]["filepath"])


@pytest.mark.slow
def test_upstream_runs_once_and_reuse_changes_no_result(root: Path) -> None:
    first = job(root, "a", "model.num_leaves=7")
    assert first.reused == []
    assert set(first.computed) >= UPSTREAM
    second = job(root, "b", "model.num_leaves=15")
    assert set(second.reused) == UPSTREAM
    assert "train" in second.computed and "evaluate" in second.computed
    # Reused outputs are read from the cache, in their catalog format (never pickle).
    assert CACHE_DIR in second.catalog["train_features"]["filepath"]
    assert second.catalog["train_features"]["filepath"].endswith(".parquet")
    assert ".reprokit/test-jobs/b" in second.catalog["model"]["filepath"]
    # The same job without reuse computes everything and trains the same model, bit for bit.
    plain = job(root, "plain", "model.num_leaves=15", reuse=False)
    assert plain.reused == [] and file_sha256(model_file(plain)) == file_sha256(model_file(second))
    assert plain.metrics == second.metrics
    # Same job again: nothing upstream of the metrics is recomputed, not even training.
    again = job(root, "c", "model.num_leaves=15")
    assert {"train", "evaluate"} <= set(again.reused) | UPSTREAM
    assert "train" in again.reused
    assert file_sha256(model_file(again)) == file_sha256(model_file(second))


@pytest.mark.slow
def test_a_changed_param_recomputes_its_node_and_everything_after(root: Path) -> None:
    job(root, "seed-base", "model.num_leaves=7")
    result = job(root, "seed", "model.num_leaves=7", "split.valid_size=0.15")
    assert "ingest" in result.reused
    assert {"split", "fit_features", "features_train", "train"} <= set(result.computed)


@pytest.mark.slow
def test_changed_code_recomputes_its_nodes(root: Path) -> None:
    job(root, "code-base", "model.num_leaves=7")
    features = root / "src/reprokit/nodes/features.py"
    original = features.read_text(encoding="utf-8")
    features.write_text(original + "\n# a change to the feature code\n", encoding="utf-8")
    try:
        result = job(root, "code", "model.num_leaves=7")
    finally:
        features.write_text(original, encoding="utf-8")
    assert {"ingest", "split"} <= set(result.reused)
    assert {"fit_features", "features_train", "train"} <= set(result.computed)


@pytest.mark.slow
def test_changed_input_data_recomputes_everything(root: Path) -> None:
    job(root, "data-base", "model.num_leaves=7")
    raw = root / compose_job(root, SMALL).config.data.path
    original = raw.read_bytes()
    frame = pd.read_parquet(raw)
    frame.iloc[:-1].to_parquet(raw)  # one row fewer
    try:
        result = job(root, "data", "model.num_leaves=7")
    finally:
        raw.write_bytes(original)
    assert result.reused == []


@pytest.mark.slow
def test_an_altered_cache_entry_is_never_reused(root: Path) -> None:
    job(root, "corrupt-first", "model.num_leaves=7")
    base = job(root, "corrupt-base", "model.num_leaves=7")  # reads `primary` from the cache
    cached = Path(base.catalog["primary"]["filepath"])
    assert CACHE_DIR in str(cached)
    cached.unlink()  # a hard link: replace the entry's file, never write through it
    cached.write_bytes(b"not the recorded content")
    result = job(root, "corrupt", "model.num_leaves=7")
    assert "ingest" in result.computed
    assert file_sha256(model_file(result)) == file_sha256(model_file(base))


@pytest.mark.slow
def test_an_in_process_sweep_composes_each_job_once(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sequential launcher runs the workspaces the sweep composed and validated up front:
    each job is composed once, from one Hydra composition of conf/ (the jobs differ in
    values only), and the jobs train what a lone job trains."""
    from reprokit.config import compose as compose_module
    from reprokit.sweeps import composer as composer_module
    from reprokit.sweeps.multirun import run_sweep

    composed: list[tuple[str, ...]] = []
    hydra_runs: list[tuple[str, ...]] = []
    real_compose, real_hydra = composer_module.Composer.compose, compose_module.hydra_config

    def counting(self: object, overrides: tuple[str, ...]) -> object:
        composed.append(tuple(overrides))
        return real_compose(self, overrides)  # type: ignore[arg-type]

    def counting_hydra(project: Path, overrides: tuple[str, ...]) -> object:
        hydra_runs.append(tuple(overrides))
        return real_hydra(project, overrides)

    monkeypatch.setattr(composer_module.Composer, "compose", counting)
    # Both names: the Composer's own, and compose()'s if a job were composed from scratch.
    monkeypatch.setattr(composer_module, "hydra_config", counting_hydra)
    monkeypatch.setattr(compose_module, "hydra_config", counting_hydra)
    rows = run_sweep(root, [*SMALL, "model.num_leaves=7,15"], ["__default__"], say=lambda _: None)
    monkeypatch.undo()
    assert sorted(composed) == sorted(
        [(*SMALL, "model.num_leaves=7"), (*SMALL, "model.num_leaves=15")]
    )
    # One Hydra composition, of the group choices both jobs share; the values go on copies.
    assert hydra_runs == [("tracking=none", "evaluation=none")]
    assert [row.status for row in rows] == ["FINISHED", "FINISHED"]
    alone = job(root, "alone-15", "model.num_leaves=15", reuse=False)
    assert rows[1].metrics == alone.metrics
