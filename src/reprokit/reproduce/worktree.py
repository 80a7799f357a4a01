"""The project as of the run's git commit (`--at-commit`), in a temporary git worktree."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reprokit.core.names import GIT_COMMIT_TAG
from reprokit.reproduce.errors import ReproductionError
from reprokit.tracking.runs import RecordedRun


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise ReproductionError(
            f"`git {' '.join(args)}` failed in {root}: {result.stderr.strip() or result.stdout}"
        )
    return result.stdout.strip()


@contextmanager
def commit_checkout(root: Path, commit: str, scratch: Path) -> Iterator[Path]:
    """The project folder as of `commit`, in a temporary git worktree removed afterwards."""
    prefix = _git(root, "rev-parse", "--show-prefix")  # the project's folder in the repo
    worktree = scratch / "worktree"
    try:
        _git(root, "worktree", "add", "--detach", str(worktree), commit)
    except ReproductionError as error:
        raise ReproductionError(
            f"cannot check out commit {commit} (tag {GIT_COMMIT_TAG}) of the run: {error}"
        ) from None
    try:
        yield worktree / prefix
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(worktree)],
            cwd=root,
            capture_output=True,
            check=False,
        )
        shutil.rmtree(worktree, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=root, capture_output=True, check=False)


def recorded_commit(root: Path, run: RecordedRun) -> str:
    """The run's git commit, checked before anything expensive happens."""
    commit = run.tag(GIT_COMMIT_TAG)
    if not commit or commit == "unknown":
        raise ReproductionError(
            f"run {run.run_id} recorded no git commit (tag {GIT_COMMIT_TAG}): --at-commit needs one"
        )
    try:
        _git(root, "cat-file", "-e", f"{commit}^{{commit}}")
    except ReproductionError as error:
        raise ReproductionError(
            f"commit {commit} of run {run.run_id} (tag {GIT_COMMIT_TAG}) is not in the git "
            f"repository at {root}; fetch it, or reproduce without --at-commit ({error})"
        ) from None
    return commit
