"""The fingerprint of an execution: what fully determines its result.

fingerprint = sha256(config without keys that cannot change the result, content hashes of
the input data, content hash of the project's code, hash of the lock file). The same
inputs give the same fingerprint from `dvc repro`, `reprokit run` and `kedro run`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Keys that cannot change a result: where it is recorded or served, how many threads compute it
# (training is deterministic across thread counts), the project's display name.
NON_RESULT_KEYS = ("tracking", "serving", "engine.num_threads", "project")
LOCK_FILE = "uv.lock"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Fingerprint:
    value: str
    config_hash: str
    data_hashes: dict[str, str]
    code_hash: str
    lock_hash: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _drop(params: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    node: Any = params
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


def result_config(params: Mapping[str, Any]) -> dict[str, Any]:
    """The config without the keys that cannot change the result."""
    trimmed = copy.deepcopy(dict(params))
    for key in NON_RESULT_KEYS:
        _drop(trimmed, key)
    return trimmed


def canonical_hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_md5(path: Path) -> str:
    """The content hash DVC records for a file (plain md5 of its bytes in DVC 3)."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def code_hash(root: Path, files: Iterable[str]) -> str:
    """Content hash of the source files that compute the result (relative to `root`).

    Not the git commit: a commit that changes only docs or the CLI leaves the code that
    computes results, and so the fingerprint, unchanged.
    """
    digest = hashlib.sha256()
    for relative in sorted(files):
        digest.update(relative.encode("utf-8") + b"\0")
        digest.update(file_sha256(root / relative).encode("ascii") + b"\n")
    return digest.hexdigest()


def lock_hash(root: Path) -> str:
    lock = root / LOCK_FILE
    return file_sha256(lock) if lock.is_file() else "no-lock-file"


def fingerprint_value(
    config_hash: str, data_hashes: Mapping[str, str], code: str, lock: str
) -> str:
    """The fingerprint composed from its parts (also how `reprokit lineage` recomputes it)."""
    return canonical_hash(
        {"config": config_hash, "data": dict(data_hashes), "code": code, "lock": lock}
    )


def compute_fingerprint(
    params: Mapping[str, Any],
    root: Path,
    input_files: Mapping[str, Path],
    code_files: Iterable[str],
) -> Fingerprint:
    """Fingerprint of running `params` with `code_files` on `input_files` (name -> path)."""
    config = canonical_hash(result_config(params))
    # A missing input still gets a fingerprint (a failed run must be recordable too).
    data = {
        name: file_md5(path) if path.is_file() else "missing"
        for name, path in sorted(input_files.items())
    }
    code = code_hash(root, code_files)
    lock = lock_hash(root)
    value = fingerprint_value(config, data, code, lock)
    return Fingerprint(
        value=value, config_hash=config, data_hashes=data, code_hash=code, lock_hash=lock
    )
