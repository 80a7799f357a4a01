"""`reprokit reproduce` of a run recorded by `dvc repro`: data from DVC's cache once the
workspace file changed, and `--at-commit` rerunning with the code of the run's commit."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from tests.support import file_sha256, run
from tests.support.templates import relocated_copy

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reproduce-dvc")]

RAW = "data/01_raw/credit.parquet"
EVALUATE = "src/reprokit/nodes/evaluate.py"


@pytest.fixture(scope="module")
def dvc_run(
    tmp_path_factory: pytest.TempPathFactory, reproduced_template: Path
) -> tuple[Path, str]:
    """A committed project copy after one `dvc repro` (its `track` stage records the run)."""
    root = relocated_copy(reproduced_template, tmp_path_factory.mktemp("reproduce-dvc") / "project")
    run_id = json.loads((root / ".reprokit/last_run.json").read_text())["run_id"]
    return root, str(run_id)


@contextmanager
def rewritten(path: Path, data: bytes) -> Iterator[None]:
    """`path` holds `data` meanwhile (unlinked first: DVC may link it to its cache)."""
    original = path.read_bytes()
    path.unlink()
    path.write_bytes(data)
    try:
        yield
    finally:
        path.unlink()
        path.write_bytes(original)


def test_changed_workspace_data_is_taken_from_the_dvc_cache(dvc_run: tuple[Path, str]) -> None:
    root, run_id = dvc_run
    raw = root / RAW
    recorded_md5 = hashlib.md5(raw.read_bytes(), usedforsecurity=False).hexdigest()
    cached = root / ".dvc/cache/files/md5" / recorded_md5[:2] / recorded_md5[2:]
    assert cached.is_file()
    with rewritten(raw, b"not the data the run read"):
        before = file_sha256(raw)
        result = run(["reprokit", "reproduce", "--keep-workspace", run_id], root)
        assert file_sha256(raw) == before  # the workspace file is left as the user has it
    assert f"from the DVC cache ({cached})" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "IDENTICAL"
    kept = Path(result.stdout.split("workspace kept: ", 1)[1].splitlines()[0])
    try:
        workspace = kept / "workspace"
        params = yaml.safe_load((workspace / "params.yaml").read_text())
        assert params["tracking"]["enabled"] is False
        assert hashlib.md5((workspace / RAW).read_bytes(), usedforsecurity=False).hexdigest() == (
            recorded_md5
        )
        assert not (workspace / ".reprokit").exists()  # no run recorded, no last_run.json
    finally:
        shutil.rmtree(kept)


def test_at_commit_reruns_with_the_code_of_the_runs_commit(dvc_run: tuple[Path, str]) -> None:
    """Code changed since the run (metrics rounded differently): the current code gives
    different metrics; `--at-commit` checks out the run's commit and gives the same."""
    root, run_id = dvc_run
    evaluate = root / EVALUATE
    text = evaluate.read_text()
    assert "METRIC_DECIMALS = 6" in text
    with rewritten(evaluate, text.replace("METRIC_DECIMALS = 6", "METRIC_DECIMALS = 2").encode()):
        current = run(["reprokit", "reproduce", run_id], root, check=False)
        at_commit = run(["reprokit", "reproduce", "--at-commit", run_id], root)
    assert current.returncode == 1, current.stderr
    assert "code: the current code differs from the run's" in current.stdout
    assert current.stdout.strip().splitlines()[-1].startswith("DIFFERENT: metric ")
    assert "model sha256" not in current.stdout.strip().splitlines()[-1]
    assert "with the code of commit" in at_commit.stdout
    assert "the rerun's inputs have the run's fingerprint" in at_commit.stdout
    assert at_commit.stdout.strip().splitlines()[-1] == "IDENTICAL"
    worktrees = run(["git", "worktree", "list"], root).stdout.strip().splitlines()
    assert len(worktrees) == 1  # the temporary worktree is gone


def test_at_commit_refuses_a_commit_the_repository_lacks(dvc_run: tuple[Path, str]) -> None:
    from mlflow import MlflowClient

    from reprokit.reproduce.errors import ReproductionError
    from reprokit.reproduce.run import reproduce_run

    root, run_id = dvc_run
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlruns.db'}")
    recorded = client.get_run(run_id)
    tags = {**recorded.data.tags, "rk.git_commit": "f" * 40}
    copy = client.create_run(recorded.info.experiment_id, tags=tags).info.run_id
    client.set_terminated(copy)
    with pytest.raises(ReproductionError, match=f"commit {'f' * 40} of run {copy}"):
        reproduce_run(root, copy, at_commit=True, say=lambda _line: None)
