"""Content hashes of files: md5 as DVC records it, sha256, folders, the lock file, and where
DVC's local cache keeps a file of a given md5.

A file's md5 is DVC 3's `md5` hash: hashlib's md5 of the file's bytes as they are (what
dvc_data's `file_md5` computes with its default algorithm; DVC 2's `md5-dos2unix` is not
used for new outputs). It is computed here with hashlib rather than through dvc_data,
whose import costs ~0.1 s of every stage's start-up (tests/core/test_content_keys.py pins
the two against each other). DVC's own code still finds the cache path (dvc_objects),
imported on first use.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

LOCK_FILE = "uv.lock"
NO_LOCK_FILE = "no-lock-file"
# The suffix DVC gives the hash of a folder; a folder's key here carries it too.
DIR_SUFFIX = ".dir"


def file_md5(path: Path) -> str:
    """The md5 DVC records for a file (DVC 3's `md5`: of the bytes as they are)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def content_hash(path: Path) -> str | None:
    """md5 of a file (DVC's), or of a folder's relative names and file md5s (suffix `.dir`);
    None when the path does not exist.

    The folder key is reprokit's own (the node cache's), not DVC's `.dir` hash: DVC builds
    that through an object database it writes to, and no folder key is compared with DVC's.
    """
    if path.is_file():
        return file_md5(path)
    if path.is_dir():
        digest = hashlib.md5(usedforsecurity=False)
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{item.relative_to(path).as_posix()}\0{file_md5(item)}\n".encode())
        return digest.hexdigest() + DIR_SUFFIX
    return None


def lock_hash(root: Path) -> str:
    """sha256 of the project's `uv.lock` (the package versions), or a marker without one."""
    lock = root / LOCK_FILE
    return file_sha256(lock) if lock.is_file() else NO_LOCK_FILE


def dvc_cache_dir(root: Path) -> Path | None:
    """The folder of DVC's local cache that holds files by md5, as DVC resolves it
    (`cache.dir` of .dvc/config.local or .dvc/config, else .dvc/cache; DVC 3's `files/md5`
    layout); None when `root` is not in a DVC project."""
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        # No git needed to find a cache: without `no_scm` DVC refuses a project outside git.
        with Repo(str(root), config={"core": {"no_scm": True}}) as repo:
            odb = repo.cache.local
            return None if odb is None else Path(odb.path)
    except NotDvcRepoError:
        return None


def cache_object(cache_dir: Path, md5: str) -> Path:
    """Where DVC keeps a file with this md5 in the cache folder `dvc_cache_dir` returns."""
    from dvc_objects.db import ObjectDB
    from dvc_objects.fs.local import localfs

    return Path(ObjectDB(localfs, str(cache_dir)).oid_to_path(md5))
