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
import time
from pathlib import Path

import reprokit
from reprokit.config.models import ReprokitConfig
from reprokit.core.content.code import recorded_probes
from reprokit.core.content.files import LOCK_FILE
from reprokit.core.stamps import (
    package_stamps,
    probe_stamps,
    recorded_fresh,
    settled,
    write_record,
)
from reprokit.dvcgen.generate import DVC_FILE, check_dvc_yaml

# Local state (git-ignored with the rest of .reprokit/); deleting it only costs one render.
CHECK_RECORD = ".reprokit/cache/dvc_check.json"
# Bumped when the record's layout or what it covers changes: an old record is then ignored.
RECORD_VERSION = 1


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
