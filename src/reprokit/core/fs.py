"""Atomic writes: a temp file (or folder) in the same folder, then a rename.

An interrupted write never leaves a file that DVC or Kedro would take as valid, and never
destroys the previous good file. Local filesystem only (what DVC tracks here).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _swap_in(tmp: Path, final: Path) -> None:
    """Rename `tmp` onto `final`, each a file or a folder (the Dask engine writes tables as
    folders of Parquet parts). A file replaces a file in one atomic rename; a folder cannot
    be replaced so, so the old one is moved aside first and removed after."""
    if not tmp.is_dir() and not final.is_dir():
        tmp.replace(final)
        return
    old = final.with_name(f".{final.name}.old")
    _remove(old)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    _remove(old)


@cache
def _umask() -> int:
    """The process's umask (reading it means setting it; once, then put back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _ordinary_mode(path: Path, mode: int) -> None:
    """The permissions a plain `open()` or `mkdir()` would have given: mkstemp/mkdtemp make
    owner-only (0600/0700) entries, and reports, tables and plots are for others to read."""
    path.chmod(mode & ~_umask())


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temp path beside `final`; on success rename it onto `final`, else delete it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    _ordinary_mode(tmp, 0o666)
    try:
        yield tmp
        _swap_in(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Like `atomic_path` for a folder: build it aside, then swap it in with renames (over
    a file or a folder)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    _ordinary_mode(tmp, 0o777)
    try:
        yield tmp
        _swap_in(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _link_or_copy(source: str, target: str) -> None:
    """A hard link (instant, and atomic writes replace the file rather than change it, so
    the link keeps the old content); a copy where links are not possible."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _back_up(path: Path) -> Path | None:
    if not path.exists():
        return None
    backup = path.with_name(f".{path.name}.before")
    _remove(backup)
    if path.is_dir():
        shutil.copytree(path, backup, copy_function=_link_or_copy)
    else:
        _link_or_copy(str(path), str(backup))
    return backup


@contextmanager
def restored_on_failure(
    paths: Sequence[Path], keep_on: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    """On an exception in the block, put each of `paths` back as it was before it (removed
    if it did not exist): a failed run publishes none of its outputs, not even those of the
    steps that succeeded before the failing one. An exception of a `keep_on` type (or one
    caused by it) keeps the outputs: the run finished its work and refused the result."""
    backups = {path: _back_up(path) for path in paths}
    try:
        yield
    except BaseException as error:
        if _caused_by(error, keep_on):
            raise
        for path, backup in backups.items():
            _remove(path)
            if backup is not None:
                backup.rename(path)
        raise
    finally:
        for backup in backups.values():
            if backup is not None:
                _remove(backup)


def _caused_by(error: BaseException | None, kinds: tuple[type[BaseException], ...]) -> bool:
    """`error` or an exception in its cause/context chain is one of `kinds`."""
    seen: set[int] = set()
    while kinds and error is not None and id(error) not in seen:
        if isinstance(error, kinds):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False
