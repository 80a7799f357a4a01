"""The fingerprint of an execution: what fully determines its result.

fingerprint = sha256(config without keys that cannot change the result, content hashes of
the input data, content hash of the project's code, hash of the lock file). The same
inputs give the same fingerprint from `dvc repro`, `reprokit run` and `kedro run`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reprokit.core.content.code import code_hash
from reprokit.core.content.files import file_md5, lock_hash
from reprokit.core.content.params import canonical_hash, result_config

MISSING = "missing"


@dataclass(frozen=True)
class Fingerprint:
    value: str
    config_hash: str
    data_hashes: dict[str, str]
    code_hash: str
    lock_hash: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        name: file_md5(path) if path.is_file() else MISSING
        for name, path in sorted(input_files.items())
    }
    code = code_hash(root, code_files)
    lock = lock_hash(root)
    value = fingerprint_value(config, data, code, lock)
    return Fingerprint(
        value=value, config_hash=config, data_hashes=data, code_hash=code, lock_hash=lock
    )
