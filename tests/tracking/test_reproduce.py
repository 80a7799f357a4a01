"""`reprokit reproduce`: the pure parts, then a real recorded run reproduced bit for bit,
determinism across thread counts, and every input the command must refuse clearly."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support import run
from tests.support.templates import relocated_copy

from reprokit.core.content.files import cache_object, dvc_cache_dir
from reprokit.reproduce.errors import DataUnavailableError
from reprokit.reproduce.inputs import locate_input
from reprokit.reproduce.run import reproduce_run
from reprokit.reproduce.verdict import Check, Reproduction
from reprokit.reproduce.workspace import rerun_params
from reprokit.tracking.compare import ABSENT
from reprokit.tracking.runs import (
    ForeignRunError,
    MissingArtifactError,
    NotAReprokitRunError,
    RunError,
    RunNotFoundError,
)

RAW = "data/01_raw/credit.parquet"
MD5_OF_EMPTY = "d41d8cd98f00b204e9800998ecf8427e"


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- pure parts --------------------------------------------------------------------------------


def test_locate_input_prefers_the_workspace_file_with_the_recorded_content(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data/raw.csv").write_bytes(b"a,b\n1,2\n")
    found = locate_input("raw", md5(b"a,b\n1,2\n"), "data/raw.csv", tmp_path, tmp_path / "cache")
    assert found.origin == "workspace"
    assert found.source == tmp_path / "data/raw.csv"


def test_locate_input_falls_back_to_the_verified_dvc_cache(tmp_path: Path) -> None:
    recorded = b"a,b\n1,2\n"
    (tmp_path / "data").mkdir()
    (tmp_path / "data/raw.csv").write_bytes(b"a,b\n1,3\n")
    cached = cache_object(tmp_path / "cache", md5(recorded))
    cached.parent.mkdir(parents=True)
    cached.write_bytes(recorded)
    found = locate_input("raw", md5(recorded), "data/raw.csv", tmp_path, tmp_path / "cache")
    assert (found.origin, found.source) == ("DVC cache", cached)
    assert cached.relative_to(tmp_path / "cache").parts[:1] == (md5(recorded)[:2],)


def test_locate_input_names_what_it_found_where(tmp_path: Path) -> None:
    recorded = md5(b"old")
    (tmp_path / "data").mkdir()
    (tmp_path / "data/raw.csv").write_bytes(b"new")
    cached = cache_object(tmp_path / "cache", recorded)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"bit rot")  # a cache object whose content is not its name
    with pytest.raises(DataUnavailableError) as error:
        locate_input("raw", recorded, "data/raw.csv", tmp_path, tmp_path / "cache")
    message = str(error.value)
    assert "'raw'" in message
    assert recorded in message
    assert f"md5 {md5(b'new')} (the data changed since the run)" in message
    assert f"{cached} is corrupt" in message


def test_locate_input_when_nothing_exists(tmp_path: Path) -> None:
    with pytest.raises(DataUnavailableError, match=r"does not exist.*does not exist"):
        locate_input("raw", MD5_OF_EMPTY, "data/raw.csv", tmp_path, tmp_path / "cache")


def test_dvc_cache_dir_default_and_configured(tmp_path: Path) -> None:
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc/config").write_text("[core]\n    analytics = false\n")
    assert dvc_cache_dir(tmp_path) == tmp_path / ".dvc/cache/files/md5"
    (tmp_path / ".dvc/config.local").write_text("[cache]\n    dir = ../../shared-cache\n")
    assert dvc_cache_dir(tmp_path) == (tmp_path.parent / "shared-cache/files/md5").resolve()


def test_rerun_params_turn_tracking_off_and_keep_absolute_paths_inside() -> None:
    params: dict[str, Any] = {
        "tracking": {"enabled": True, "uri": "sqlite:///mlruns.db"},
        "serving": {"enabled": True},
        "catalog": {
            "raw": {"filepath": "/srv/data/raw.parquet"},
            "model": {"filepath": "data/06_models/model.txt"},
        },
    }
    rerun = rerun_params(params)
    assert rerun["tracking"] == {"enabled": False, "uri": "sqlite:///mlruns.db"}
    assert rerun["catalog"]["raw"]["filepath"] == "external/raw/raw.parquet"
    assert rerun["catalog"]["model"]["filepath"] == "data/06_models/model.txt"
    assert rerun["serving"] == {"enabled": False}
    assert "serving" not in rerun_params({"tracking": {}})  # a config from before serving
    assert params["tracking"]["enabled"] is True  # the run's own config is left as recorded


def test_verdict_is_identical_only_when_every_check_matches() -> None:
    same = Check("metric roc_auc", 0.75, 0.75)
    assert Reproduction("r", checks=[same]).identical
    changed = Reproduction("r", checks=[same, Check("metric f1", 0.5, 0.5000001)])
    assert not changed.identical
    assert changed.differences == ["metric f1"]
    assert not Check("metric gone", 0.5, ABSENT).same
    assert not Check("metric new", ABSENT, ABSENT).same
    assert not Reproduction("r").identical  # nothing compared is not a success


# --- a recorded run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    root: Path
    run_id: str
    fingerprint: str
    model_sha256: str
    one_thread_fingerprint: str
    one_thread_model_sha256: str


def last_run(root: Path) -> dict[str, Any]:
    value = json.loads((root / ".reprokit/last_run.json").read_text())
    assert isinstance(value, dict)
    return value


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, trained_template: Path) -> Recorded:
    """Two runs in one copy: the default, then the same with one LightGBM thread."""
    root = relocated_copy(trained_template, tmp_path_factory.mktemp("reproduce") / "project")
    first = last_run(root)
    model_sha256 = sha256(root / "data/06_models/model.txt")
    run(["reprokit", "run", "engine.num_threads=1"], root)
    second = last_run(root)
    assert second["run_id"] != first["run_id"]
    return Recorded(
        root=root,
        run_id=first["run_id"],
        fingerprint=first["fingerprint"],
        model_sha256=model_sha256,
        one_thread_fingerprint=second["fingerprint"],
        one_thread_model_sha256=sha256(root / "data/06_models/model.txt"),
    )


def snapshot(root: Path) -> dict[str, str]:
    """Every file a reproduction must not touch: params.yaml, data and outputs, local state."""
    files = [
        root / "params.yaml",
        *(p for d in ("data", ".reprokit") for p in (root / d).rglob("*")),
    ]
    return {str(p.relative_to(root)): sha256(p) for p in files if p.is_file()}


@contextmanager
def replaced(path: Path, data: bytes | None) -> Iterator[None]:
    """`path` holds `data` (None: does not exist) meanwhile; its bytes come back after."""
    original = path.read_bytes()
    path.unlink()  # never write through a link into a cache
    if data is not None:
        path.write_bytes(data)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        path.write_bytes(original)


def quiet(_line: str) -> None:
    """`say` for in-process calls: the notes are asserted through the CLI tests."""


def artifacts(recorded: Recorded) -> Path:
    return recorded.root / "mlartifacts" / recorded.run_id / "artifacts"


@pytest.fixture(scope="module")
def client(recorded: Recorded) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{recorded.root / 'mlruns.db'}")


@pytest.mark.slow
@pytest.mark.xdist_group("reproduce")
def test_reproduce_prints_identical_and_touches_nothing(recorded: Recorded) -> None:
    before = snapshot(recorded.root)
    result = run(["reprokit", "reproduce", recorded.run_id], recorded.root)
    out = result.stdout
    assert out.strip().splitlines()[-1] == "IDENTICAL"
    assert "code: same as the run's" in out
    assert "environment: same as the run's (environment hash" in out
    assert f"from the workspace ({recorded.root / RAW})" in out
    assert f"the run's fingerprint {recorded.fingerprint[:12]}" in out
    assert out.count(recorded.model_sha256) == 4  # tag and artifact, each vs the rerun
    assert "metric roc_auc" in out
    assert snapshot(recorded.root) == before


@pytest.mark.slow
@pytest.mark.xdist_group("reproduce")
def test_a_run_recorded_at_another_simd_level_reproduces_identical_and_says_so(
    recorded: Recorded, client: Any
) -> None:
    tag = "rk.env.simd"
    here = client.get_run(recorded.run_id).data.tags[tag]
    # As if recorded on a machine one SIMD level away (an AVX2-only laptop from an AVX-512
    # one; an older one from an AVX2-only one such as this CI's).
    other = "X86_V2" if here == "X86_V3" else "X86_V3"
    client.set_tag(recorded.run_id, tag, other)
    try:
        result = run(["reprokit", "reproduce", recorded.run_id], recorded.root)
    finally:
        client.set_tag(recorded.run_id, tag, here)
    assert f"environment: differs from the run's: simd: {other} -> {here}" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "IDENTICAL"


@pytest.mark.slow
@pytest.mark.xdist_group("reproduce")
def test_thread_count_changes_neither_model_nor_fingerprint(recorded: Recorded) -> None:
    assert recorded.one_thread_model_sha256 == recorded.model_sha256
    assert recorded.one_thread_fingerprint == recorded.fingerprint


@pytest.mark.slow
@pytest.mark.xdist_group("reproduce")
def test_changed_raw_data_is_named_and_fails(recorded: Recorded) -> None:
    import pandas as pd

    raw = recorded.root / RAW
    original_md5 = md5(raw.read_bytes())
    frame = pd.read_parquet(raw)
    frame.loc[0, "loan_amount"] += 1.0
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    with replaced(raw, buffer.getvalue()):
        result = run(["reprokit", "reproduce", recorded.run_id], recorded.root, check=False)
    assert result.returncode == 2
    assert "input data 'raw'" in result.stderr
    assert f"(md5 {original_md5})" in result.stderr
    assert f"has md5 {md5(buffer.getvalue())} (the data changed since the run)" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.xdist_group("reproduce")
def test_unknown_run_id_is_a_clear_error(recorded: Recorded) -> None:
    result = run(["reprokit", "reproduce", "0" * 32], recorded.root, check=False)
    assert result.returncode == 2
    assert f"error: no run '{'0' * 32}'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.xdist_group("reproduce")
def test_corrupt_model_artifact_is_refused(recorded: Recorded) -> None:
    model = artifacts(recorded) / "model/model.txt"
    with replaced(model, model.read_bytes() + b"\n"):
        result = run(["reprokit", "reproduce", recorded.run_id], recorded.root, check=False)
    assert result.returncode == 2
    assert "the model artifact of run" in result.stderr
    assert f"the run recorded {recorded.model_sha256}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.xdist_group("reproduce")
def test_missing_composed_config_is_named(recorded: Recorded) -> None:
    with (
        replaced(artifacts(recorded) / "composed_config.yaml", None),
        pytest.raises(MissingArtifactError, match=r"no artifact 'composed_config\.yaml'"),
    ):
        reproduce_run(recorded.root, recorded.run_id, say=quiet)


@pytest.mark.slow
@pytest.mark.xdist_group("reproduce")
def test_a_run_without_reprokit_tags_is_refused(recorded: Recorded, client: Any) -> None:
    experiment = client.get_experiment_by_name("reprokit").experiment_id
    run_id = client.create_run(experiment).info.run_id
    client.set_terminated(run_id)
    with pytest.raises(NotAReprokitRunError, match=f"run {run_id} was not recorded by reprokit"):
        reproduce_run(recorded.root, run_id, say=quiet)


@pytest.mark.slow
@pytest.mark.xdist_group("reproduce")
def test_a_run_of_another_project_is_refused(recorded: Recorded, client: Any) -> None:
    tags = dict(client.get_run(recorded.run_id).data.tags)
    tags["rk.project"] = "someone-else"
    experiment = client.get_experiment_by_name("reprokit").experiment_id
    run_id = client.create_run(experiment, tags=tags).info.run_id
    client.set_terminated(run_id)
    with pytest.raises(ForeignRunError, match="belongs to project 'someone-else'"):
        reproduce_run(recorded.root, run_id, say=quiet)


@pytest.mark.slow
@pytest.mark.xdist_group("reproduce")
def test_a_failed_run_is_refused(recorded: Recorded, client: Any) -> None:
    tags = dict(client.get_run(recorded.run_id).data.tags)
    experiment = client.get_experiment_by_name("reprokit").experiment_id
    run_id = client.create_run(experiment, tags=tags).info.run_id
    client.set_terminated(run_id, status="FAILED")
    with pytest.raises(RunError, match=f"run {run_id} is FAILED"):
        reproduce_run(recorded.root, run_id, say=quiet)


@pytest.mark.slow
@pytest.mark.xdist_group("reproduce")
def test_unknown_run_id_in_process(recorded: Recorded) -> None:
    with pytest.raises(RunNotFoundError):
        reproduce_run(recorded.root, "not-a-run", say=quiet)
