"""`reprokit dvc check` without rendering dvc.yaml again when nothing it depends on moved.

Every pipeline stage checks dvc.yaml before it runs (a stale one would make DVC track the
wrong files), and rendering it parses every module of every stage's code closure: most of
a stage's start-up. What a render reads is known: the validated config, dvc.yaml itself,
whether the lock file exists, reprokit's own code (the generator, and the engines package
it lists by directory) and the source paths the closures looked at (`recorded_probes`).
A passing check records them; a later check passes at once when all of them are as
recorded, and renders (and records again) otherwise. Only passes are recorded, so a stale
dvc.yaml always fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat as stat_mode
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import reprokit
from reprokit.config.models import ReprokitConfig
from reprokit.core.content.code import recorded_probes
from reprokit.core.content.files import LOCK_FILE
from reprokit.core.fs import atomic_path
from reprokit.dvcgen.generate import DVC_FILE, check_dvc_yaml

# Local state (git-ignored with the rest of .reprokit/); deleting it only costs one render.
CHECK_RECORD = ".reprokit/cache/dvc_check.json"
# Bumped when the record's layout or what it covers changes: an old record is then ignored.
RECORD_VERSION = 1
# Coarse file systems stamp mtimes in steps (ext4 in jiffies, FAT in 2 s): a file edited in
# the same step as a render began would look older than the render.
MTIME_GRANULARITY_NS = 2_000_000_000

Stamp = list[int] | None


def stamp(path: Path) -> Stamp:
    """What tells an edit of a file apart (as DVC's own state does): mtime and size; None
    for a path that is not a file."""
    try:
        status = path.stat()
    except OSError:
        return None
    if not stat_mode.S_ISREG(status.st_mode):
        return None
    return [status.st_mtime_ns, status.st_size]


def package_stamps(package_dir: Path) -> dict[str, Stamp]:
    """Every Python file of reprokit itself: the generator's code, and the engines package
    whose modules `engine_modules` lists by directory (an added engine changes the deps)."""
    stamps: dict[str, Stamp] = {}
    for folder, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = Path(folder) / name
                stamps[str(path.relative_to(package_dir))] = stamp(path)
    return stamps


def check_key(config: ReprokitConfig, root: Path) -> str:
    """A digest of everything a render reads but the probed source paths."""
    dvc_yaml = root / DVC_FILE
    parts = {
        "version": RECORD_VERSION,
        "reprokit": reprokit.__version__,
        "config": config.model_dump_json(),
        "dvc_yaml": hashlib.sha256(dvc_yaml.read_bytes()).hexdigest()
        if dvc_yaml.is_file()
        else None,
        "lock_file": (root / LOCK_FILE).is_file(),
        "package": package_stamps(Path(reprokit.__file__).parent),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


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
    return all(stamp(Path(path)) == recorded for path, recorded in probes.items())


def settled(stamps: Mapping[str, Stamp], since_ns: int) -> bool:
    """No probed file changed after `since_ns` (less the file system's timestamp
    granularity): each was, throughout the render, what its stamp says."""
    return all(s is None or s[0] < since_ns - MTIME_GRANULARITY_NS for s in stamps.values())


def write_record(record_path: Path, key: str, stamps: Mapping[str, Stamp]) -> None:
    record = {"key": key, "probes": dict(stamps)}
    record_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(record_path) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")


def check_dvc_yaml_fresh(config: ReprokitConfig, root: Path) -> None:
    """`check_dvc_yaml`, skipped when a previous pass recorded exactly this state."""
    record_path = root / CHECK_RECORD
    key = check_key(config, root)
    if recorded_fresh(record_path, key):
        return
    started = time.time_ns()
    with recorded_probes() as probes:
        check_dvc_yaml(config, root)
    stamps = probe_stamps(probes)
    # Recorded only when nothing it covers moved while it rendered: else the record could
    # vouch for files the render never saw, and the next check simply renders again.
    if settled(stamps, started) and check_key(config, root) == key:
        write_record(record_path, key, stamps)
