"""`reprokit lineage`: the pure checks directly, then one real packaged project (git, `reprokit
run`, `reprokit package`, MLflow SQLite store, BentoML store) walked from each kind of ref
and broken at each link the issue names: the model file in the BentoML store, its metadata,
the MLflow run, the data. Each broken case undoes its tampering, so the module's single
project serves every test.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import PROJECT_ROOT, copy_project, git_init, run, tool_env

from reprokit.core.content.fingerprint import fingerprint_value
from reprokit.core.names import TAG_PREFIX
from reprokit.lineage.trace import UnknownRefError, parse_ref
from reprokit.lineage.verify import (
    BentoFacts,
    CommitFacts,
    DataFacts,
    RunFacts,
    Status,
    check_bento,
    check_commit,
    check_data,
    check_fingerprint,
    check_run,
    exit_code,
)

SHA_A, SHA_B = "a" * 64, "b" * 64
MD5 = "0e0920b2dc2928b915793e91f77c5a2c"


# --- the pure checks -------------------------------------------------------------------------


def bento(file_sha256: str | None = SHA_A, **metadata: Any) -> BentoFacts:
    meta = {"model_sha256": SHA_A, "fingerprint": "f" * 64, **metadata}
    return BentoFacts("m:1", {"fingerprint": "f" * 12}, meta, file_sha256)


def test_a_model_file_that_differs_from_its_metadata_is_a_broken_link() -> None:
    assert {link.status for link in check_bento(bento())} == {Status.VERIFIED}
    [file_link, _] = check_bento(bento(file_sha256=SHA_B))
    assert file_link.status is Status.BROKEN and file_link.link == "BentoML model file"
    assert f"expected {SHA_A}" in file_link.detail and f"found {SHA_B}" in file_link.detail
    [_, labels] = check_bento(bento(fingerprint="e" * 64))
    assert labels.status is Status.BROKEN and labels.link == "BentoML labels"


def finished_run(**tags: str) -> RunFacts:
    parts = {"config_hash": "c" * 64, "code_hash": "d" * 64, "lock_hash": "e" * 64}
    value = fingerprint_value(parts["config_hash"], {"raw": MD5}, parts["code_hash"], "e" * 64)
    all_tags = {"fingerprint": value, "model_sha256": SHA_A, **parts, "md5.raw": MD5, **tags}
    return RunFacts(
        run_id="r" * 32,
        found=True,
        status="FINISHED",
        tags={f"{TAG_PREFIX}{k}": v for k, v in all_tags.items()},
        model_artifact_sha256=SHA_A,
        composed_config_hash="c" * 64,
    )


def test_the_fingerprint_must_recompute_from_its_parts() -> None:
    assert {link.status for link in check_fingerprint(finished_run())} == {Status.VERIFIED}
    # Another data md5 than the one the fingerprint was composed with.
    links = {link.link: link for link in check_fingerprint(finished_run(**{"md5.raw": "0" * 32}))}
    assert links["fingerprint"].status is Status.BROKEN
    assert links["config hash"].status is Status.VERIFIED


def test_a_run_must_exist_be_finished_and_not_deleted() -> None:
    assert exit_code(check_run(finished_run(), SHA_A, None)) == 0
    deleted = RunFacts(run_id="r" * 32, found=True, status="FINISHED", deleted=True)
    assert [link.detail for link in check_run(deleted, SHA_A, None)] == [
        "the run was deleted from the MLflow store"
    ]
    failed = RunFacts(run_id="r" * 32, found=True, status="FAILED")
    assert exit_code(check_run(failed, SHA_A, None)) == 1
    assert exit_code(check_run(finished_run(model_sha256=SHA_B), SHA_A, None)) == 1


def data(workspace: str | None, cache: str | None) -> DataFacts:
    return DataFacts("raw", MD5, "data/01_raw/x.parquet", workspace, "cache/0e/09", cache)


def test_data_is_found_in_the_dvc_cache_or_the_workspace() -> None:
    assert check_data(data(None, MD5)).status is Status.VERIFIED
    assert check_data(data(MD5, None)).status is Status.VERIFIED
    missing = check_data(data("1" * 32, "2" * 32))
    assert missing.status is Status.BROKEN
    assert "has md5 " + "1" * 32 in missing.detail and "is corrupt" in missing.detail


def test_a_commit_is_checked_honestly() -> None:
    run_ = finished_run()
    [unknown] = check_commit(CommitFacts(commit=None, exists=False, dirty=False), run_)
    assert unknown.status is Status.NOT_CHECKED
    [gone] = check_commit(CommitFacts(commit="c0ffee", exists=False, dirty=False), run_)
    assert gone.status is Status.BROKEN
    dirty = CommitFacts(commit="c0ffee", exists=True, dirty=True, why_not="uncommitted")
    assert [link.status for link in check_commit(dirty, run_)] == [
        Status.VERIFIED,
        Status.NOT_CHECKED,
    ]
    other_code = CommitFacts("c0ffee", True, False, code_hash="9" * 64, lock_hash="e" * 64)
    assert exit_code(check_commit(other_code, run_)) == 1


def test_refs_are_told_apart_by_their_form() -> None:
    assert parse_ref("0123456789abcdef0123456789abcdef").kind == "run"
    assert parse_ref("0123abcd").kind == "run"  # a short id, as `reprokit runs` shows it
    version = parse_ref("models:/reprokit-credit/3")
    assert (version.kind, version.name, version.version) == ("version", "reprokit-credit", "3")
    assert parse_ref("reprokit-credit/3").kind == "version"
    assert parse_ref("reprokit-credit:e64xklxnmoid6ax4").kind == "bento"
    with pytest.raises(UnknownRefError) as error:
        parse_ref("champion")
    assert error.value.exit_code == 2


# --- one real packaged project -----------------------------------------------------------------


@dataclass(frozen=True)
class Packaged:
    root: Path
    env: dict[str, str]
    tag: str
    run_id: str
    model_dir: Path


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Packaged:
    root = copy_project(tmp_path_factory.mktemp("lineage") / "project", mlflow_db_template)
    shutil.copy2(PROJECT_ROOT / ".gitignore", root / ".gitignore")
    git_init(root)  # the run records this commit, clean
    run(["reprokit", "run"], root)
    tag = run(["reprokit", "package"], root).stdout.strip().split()[-1]
    last = json.loads((root / ".reprokit/last_run.json").read_text())
    name, version = tag.split(":")
    return Packaged(
        root=root,
        env=tool_env(root),
        tag=tag,
        run_id=last["run_id"],
        model_dir=root / ".bentoml/models" / name / version,
    )


def lineage(packaged: Packaged, ref: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = run(["reprokit", "lineage", ref, "--json", *args], packaged.root, check=False)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def broken_links(report: dict[str, Any]) -> dict[str, str]:
    return {link["link"]: link["detail"] for link in report["links"] if link["status"] == "broken"}


@contextmanager
def restored(path: Path) -> Iterator[Path]:
    """Tamper with `path` inside the block; its bytes come back afterwards."""
    original = path.read_bytes()
    try:
        yield path
    finally:
        path.write_bytes(original)


@pytest.mark.slow
def test_a_good_chain_verifies_from_every_kind_of_ref(packaged: Packaged) -> None:
    code, report = lineage(packaged, packaged.tag)
    assert code == 0 and report["verified"], report
    status = {link["link"]: link["status"] for link in report["links"]}
    for link in (
        "BentoML model file",
        "registry version",
        "MLflow run",
        "MLflow run model artifact",
        "fingerprint",
        "config hash",
        "data",
        "git commit",
        "code at commit",
        "lock file at commit",
    ):
        assert status[link] == "verified", (link, report)
    for ref in (packaged.run_id, "models:/reprokit-credit/1"):
        code, report = lineage(packaged, ref)
        assert code == 0 and status.keys() <= {link["link"] for link in report["links"]}
    unknown = run(
        ["reprokit", "lineage", "reprokit-credit:nosuchversion"], packaged.root, check=False
    )
    assert unknown.returncode == 2 and "no BentoML model" in unknown.stderr


@pytest.mark.slow
def test_a_tampered_model_file_in_the_bentoml_store_is_named(packaged: Packaged) -> None:
    with restored(packaged.model_dir / "model.txt") as model:
        model.write_bytes(model.read_bytes() + b"\n")
        code, report = lineage(packaged, packaged.tag)
    assert code == 1
    assert list(broken_links(report)) == ["BentoML model file"]
    assert "metadata model_sha256" in broken_links(report)["BentoML model file"]


@pytest.mark.slow
def test_tampered_bentoml_metadata_is_named(packaged: Packaged) -> None:
    with restored(packaged.model_dir / "model.yaml") as model_yaml:
        info = yaml.safe_load(model_yaml.read_text())
        info["metadata"]["fingerprint"] = "0" * 64
        model_yaml.write_text(yaml.safe_dump(info, sort_keys=False))
        code, report = lineage(packaged, packaged.tag)
    assert code == 1
    broken = broken_links(report)
    assert set(broken) == {"BentoML labels", "MLflow run fingerprint"}
    assert f"expected {'0' * 64}" in broken["MLflow run fingerprint"]


@pytest.mark.slow
def test_a_deleted_mlflow_run_is_named(packaged: Packaged) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{packaged.root / 'mlruns.db'}")
    client.delete_run(packaged.run_id)
    try:
        code, report = lineage(packaged, packaged.tag)
    finally:
        client.restore_run(packaged.run_id)
    assert code == 1
    assert broken_links(report) == {"MLflow run": "the run was deleted from the MLflow store"}


@pytest.mark.slow
def test_changed_data_is_named_and_the_dvc_cache_can_vouch_for_it(packaged: Packaged) -> None:
    raw = packaged.root / "data/01_raw/credit.parquet"
    with restored(raw):
        original = raw.read_bytes()
        raw.write_bytes(original + b"changed")
        code, report = lineage(packaged, packaged.tag)
        assert code == 1
        detail = broken_links(report)["data"]
        assert "data/01_raw/credit.parquet has md5" in detail and "no DVC cache object" in detail
        assert list(broken_links(report)) == ["data"]
        # DVC 3's cache layout (.dvc/cache/files/md5/<2>/<30>) holding the recorded bytes.
        md5 = next(link["hash"] for link in report["links"] if link["link"] == "data")
        cached = packaged.root / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
        cached.parent.mkdir(parents=True)
        cached.write_bytes(original)
        try:
            code, report = lineage(packaged, packaged.tag)
        finally:
            shutil.rmtree(packaged.root / ".dvc/cache")
    assert code == 0, report
