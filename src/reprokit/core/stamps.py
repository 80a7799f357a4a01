"""Records that let a check pass at once while nothing it read has moved.

A check that passed records a key (a digest of the inputs it hashes) and the stamps of the
files it looked at; a later check whose key and stamps are as recorded passes without
redoing the work. Only passes are recorded, so a stale file always fails. Used by
`reprokit config check` (config.check_record) and `reprokit dvc check` (dvcgen.freshness).
"""

from __future__ import annotations

import json
import os
import stat as stat_mode
from collections.abc import Iterable, Mapping
from pathlib import Path

from reprokit.core.fs import atomic_path

# Coarse file systems stamp mtimes in steps (ext4 in jiffies, FAT in 2 s): a file edited in
# the same step as a check began would look older than the check.
MTIME_GRANULARITY_NS = 2_000_000_000

Stamp = list[int] | None


def stamp(path: str | Path) -> Stamp:
    """What tells an edit of a file apart (as DVC's own state does): mtime and size; None
    for a path that is not a file."""
    try:
        # os.stat on the string: a check compares thousands of stamps, and building a Path
        # for each cost more than the stat itself.
        status = os.stat(path)  # noqa: PTH116 (as above: no Path per stamp)
    except OSError:
        return None
    if not stat_mode.S_ISREG(status.st_mode):
        return None
    return [status.st_mtime_ns, status.st_size]


def package_stamps(package_dir: Path) -> dict[str, Stamp]:
    """The stamp of every Python file below `package_dir`, by relative path (an added or
    removed module changes the mapping too)."""
    # Strings, not Paths, for the same reason as `stamp` (every stage computes this).
    stamps: dict[str, Stamp] = {}
    top = str(package_dir)
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        relative = os.path.relpath(folder, top)
        for name in sorted(files):
            if name.endswith(".py"):
                key = name if relative == os.curdir else os.path.join(relative, name)  # noqa: PTH118
                stamps[key] = stamp(os.path.join(folder, name))  # noqa: PTH118
    return stamps


def probe_stamps(probes: Iterable[Path]) -> dict[str, Stamp]:
    """Each probed path's stamp (None for the ones that do not exist)."""
    return {str(path): stamp(path) for path in sorted(set(probes))}


def recorded_fresh(record_path: Path, key: str) -> bool:
    """True when the record is of this key and every probed path is as it recorded."""
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or record.get("key") != key:
        return False
    probes = record.get("probes")
    if not isinstance(probes, Mapping):
        return False
    return all(stamp(path) == recorded for path, recorded in probes.items())


def settled(stamps: Mapping[str, Stamp], since_ns: int) -> bool:
    """No probed file changed after `since_ns` (less the file system's timestamp
    granularity): each was, throughout the check, what its stamp says."""
    return all(s is None or s[0] < since_ns - MTIME_GRANULARITY_NS for s in stamps.values())


def write_record(record_path: Path, key: str, stamps: Mapping[str, Stamp]) -> None:
    record = {"key": key, "probes": dict(stamps)}
    record_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(record_path) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
