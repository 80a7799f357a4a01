"""Expensive project states built once per test session and copied per test.

Training the default project takes seconds to tens of seconds; copying the trained directory
takes milliseconds. A template is built by the first test process that needs it (the others
wait on a lock: xdist workers share the session's temporary root), and each user gets its own
relocated copy, so tests stay independent of each other, of their order and of the worker
that runs them.

A copy is relocated because the project records absolute paths: MLflow's SQLite store holds
artifact URIs and dataset sources under the project root, and a few small files (the last
run's record, MLflow's MLmodel, a packaged model's model.yaml) hold the tracking URI. Each
is rewritten to the copy's root, so the copy logs to and reads from its own store and
artifacts only; a packaged model's project-instance label (a hash of the root) likewise.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.support.mlflow_store import Executed, Executions, all_runs, store_client
from tests.support.project import PROJECT_ROOT, copy_project, git_init
from tests.support.tools import run

BUILT_MARK = ".template-built"
# Directories never rewritten (relative to the project): DVC's content-addressed cache and
# git's objects name no absolute path (and DVC's cache must keep its bytes).
SKIPPED_DIRS = frozenset({".git", ".dvc/cache"})
SQLITE_MAGIC = b"SQLite format 3\x00"  # the first bytes of every SQLite database file
# The completed process of the command that built a template, beside its `project`.
BUILD_RESULT = "build-result.json"
MAX_REWRITTEN_BYTES = 4_000_000


def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's temporary root, shared by all xdist workers (each has its own
    `popen-gwN` base below it); the base itself without xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if base.name.startswith("popen-gw") else base


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Holds an exclusive lock on `lock_file` (between processes) meanwhile."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def template(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """The template directory `name`, built by `build(directory)` once per session.

    A build that fails is not retried in the session: its error is kept beside the template
    and every later user fails with it at once (instead of repeating a long build that
    fails the same way, or copying a half-built project)."""
    directory = session_root(tmp_path_factory) / "templates" / name
    failure = directory.with_suffix(".failed")
    with exclusive(directory.with_suffix(".lock")):
        if failure.exists():
            pytest.fail(f"template {name!r} failed to build:\n{failure.read_text()}")
        if not (directory / BUILT_MARK).exists():
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
            try:
                build(directory)
            except Exception as error:
                failure.write_text(f"{type(error).__name__}: {error}", encoding="utf-8")
                raise
            (directory / BUILT_MARK).touch()
    return directory


def build_trained(directory: Path, mlflow_db: Path) -> None:
    """`directory/project`: the default project after one `reprokit run`."""
    project = copy_project(directory / "project", mlflow_db)
    save_result(directory, run(["reprokit", "run"], project))


def build_reproduced(directory: Path, mlflow_db: Path) -> None:
    """`directory/project`: the default project as a git repository (its files committed)
    after one full `dvc repro`, left uncommitted. As in a clone, the project's .gitignore
    keeps the store, artifacts and local state out of git (so the run it records is not
    `git_dirty`)."""
    project = copy_project(directory / "project", mlflow_db)
    shutil.copy2(PROJECT_ROOT / ".gitignore", project / ".gitignore")
    git_init(project)
    save_result(directory, run(["dvc", "repro"], project))


def save_result(directory: Path, result: subprocess.CompletedProcess[str]) -> None:
    record = {"args": result.args, "returncode": result.returncode}
    record |= {"stdout": result.stdout, "stderr": result.stderr}
    (directory / BUILD_RESULT).write_text(json.dumps(record), encoding="utf-8")


def build_result(template: Path) -> subprocess.CompletedProcess[str]:
    """The completed process of the command that built the `template` project."""
    record = json.loads((template.parent / BUILD_RESULT).read_text(encoding="utf-8"))
    return subprocess.CompletedProcess(
        record["args"], record["returncode"], record["stdout"], record["stderr"]
    )


def executions_from(template: Path, destination: Path, step: str) -> Executions:
    """Executions in a relocated copy of `template` at `destination` (the trained or the
    reproduced one), the command that built it (`reprokit run`, `dvc repro`) recorded as
    `step` (its completed process, the runs it added), as though `Executions` had run it in
    the copy."""
    project = relocated_copy(template, destination)
    execute = Executions(project, store_client(project))
    execute.steps[step] = Executed(build_result(template), all_runs(execute.client))
    return execute


def relocated_copy(source: Path, destination: Path) -> Path:
    """A copy of the project `source` at `destination`, its recorded absolute paths moved
    to `destination` (see the module's docstring)."""
    from reprokit.serving.store import project_instance_id

    shutil.copytree(source, destination, symlinks=True)
    moves = (
        (str(source.resolve()), str(destination.resolve())),
        # A model packaged in the template is labelled with its project instance (a hash of
        # the root): the copy's own, so the copy serves it as its own model.
        (project_instance_id(source), project_instance_id(destination)),
    )
    for path in files_to_rewrite(destination, destination):
        rewrite = rewrite_sqlite if is_sqlite(path) else rewrite_text
        for old, new in moves:
            rewrite(path, old, new)
    return destination


def files_to_rewrite(project: Path, folder: Path) -> Iterator[Path]:
    """The files below `folder` that may name the project's root: not in SKIPPED_DIRS,
    not links (their targets are rewritten where they live), small or SQLite databases."""
    for path in folder.iterdir():
        if path.is_symlink() or path.name == "__pycache__":
            continue
        if path.is_dir():
            if path.relative_to(project).as_posix() not in SKIPPED_DIRS:
                yield from files_to_rewrite(project, path)
        elif path.stat().st_size <= MAX_REWRITTEN_BYTES or is_sqlite(path):
            yield path


def is_sqlite(path: Path) -> bool:
    """Whether `path` is a SQLite database (MLflow's store; not Feast's protobuf registry.db)."""
    with path.open("rb") as handle:
        return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def rewrite_text(path: Path, old: str, new: str) -> None:
    """`old` replaced by `new` in a UTF-8 file that holds it; other files untouched (a
    binary file is never edited: a changed length would corrupt it)."""
    data = path.read_bytes()
    if old.encode() not in data:
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    path.write_text(text.replace(old, new), encoding="utf-8")


def rewrite_sqlite(path: Path, old: str, new: str) -> None:
    """`old` replaced by `new` in every text column of the SQLite database at `path`."""
    connection = sqlite3.connect(path)
    try:
        tables = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        for table in tables:
            for column in text_columns(connection, table):
                connection.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                    f'WHERE instr("{column}", ?) > 0',
                    (old, new, old),
                )
        connection.commit()
    finally:
        connection.close()


def text_columns(connection: sqlite3.Connection, table: str) -> list[str]:
    """The columns of `table` that may hold a path (declared text-like, or untyped)."""
    columns = connection.execute(f'PRAGMA table_info("{table}")').fetchall()
    return [
        str(name)
        for _, name, declared, *_ in columns
        if not declared or any(kind in declared.upper() for kind in ("CHAR", "TEXT", "CLOB"))
    ]
