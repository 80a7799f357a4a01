"""`reprokit config check` without composing conf/ again when nothing it reads moved.

`make repro` checks params.yaml before every `dvc repro`, and the check composes conf/
with Hydra (~0.3 s) and imports every declared node's function to bind its arguments
(~0.6 s: pandas, sklearn, lightgbm): most of a no-op `make repro`. What the check reads is
known: the files of conf/, params.yaml, reprokit's own code, the project's modules the node
functions imported, and the installed libraries. A pass records them (core.stamps); a later
check passes at once while all of them are as recorded. Only passes are recorded, so a
stale or invalid params.yaml always fails.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import reprokit
from reprokit.core.names import PARAMS_FILE
from reprokit.core.stamps import (
    Stamp,
    package_stamps,
    probe_stamps,
    recorded_fresh,
    settled,
    write_record,
)

# Local state (git-ignored with the rest of .reprokit/); deleting it only costs one check.
CHECK_RECORD = ".reprokit/cache/config_check.json"
# Bumped when the record's layout or what it covers changes: an old record is then ignored.
RECORD_VERSION = 1
CONF_DIR = "conf"
# An interpolation that reads the environment: the composition then depends on more than
# files, so such a conf/ is checked every time.
ENV_RESOLVER = "oc.env"


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def conf_digests(root: Path) -> dict[str, str | None]:
    """Every file of conf/ by relative path: an added, removed or edited file changes it."""
    conf = root / CONF_DIR
    return {
        str(path.relative_to(conf)): _digest(path)
        for path in sorted(conf.rglob("*"))
        if path.is_file()
    }


def installed_stamps() -> dict[str, int | None]:
    """The mtime of each import path folder: installing, upgrading or removing a library
    adds or removes entries (its dist-info folder) there, which moves the folder's mtime."""
    stamps: dict[str, int | None] = {}
    for entry in sys.path:
        try:
            stamps[entry] = Path(entry or ".").stat().st_mtime_ns
        except OSError:
            stamps[entry] = None
    return stamps


def check_key(root: Path) -> str:
    """A digest of everything the check reads but the project modules it imported."""
    parts = {
        "version": RECORD_VERSION,
        "reprokit": reprokit.__version__,
        "python": sys.version,
        "conf": conf_digests(root),
        "params": _digest(root / PARAMS_FILE),
        "package": package_stamps(Path(reprokit.__file__).parent),
        "installed": installed_stamps(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def project_module_stamps(root: Path) -> dict[str, Stamp]:
    """The source files of the loaded modules that live in the project but outside reprokit
    (whose files the key covers): a user's node modules, imported by the check."""
    project = root.resolve()
    # Covered elsewhere: reprokit by the key's package stamps; a venv inside the project
    # (its libraries) by the import path folders' stamps.
    covered = (Path(reprokit.__file__).resolve().parent, Path(sys.prefix).resolve())
    files = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file).resolve()
        if path.is_relative_to(project) and not any(path.is_relative_to(c) for c in covered):
            files.append(path)
    return probe_stamps(files)


def reads_environment(root: Path) -> bool:
    conf = root / CONF_DIR
    return any(
        ENV_RESOLVER in path.read_text(encoding="utf-8", errors="replace")
        for path in conf.rglob("*.yaml")
    )


def check_params_fresh(root: Path) -> None:
    """`check_params`, skipped when a previous pass recorded exactly this state."""
    record_path = root / CHECK_RECORD
    key = check_key(root)
    if recorded_fresh(record_path, key):
        return
    from reprokit.config.compose import check_params

    started = time.time_ns()
    check_params(root)
    stamps = project_module_stamps(root)
    # Recorded only when nothing it covers moved while it checked: else the record could
    # vouch for files the check never saw, and the next check simply checks again.
    if settled(stamps, started) and check_key(root) == key and not reads_environment(root):
        write_record(record_path, key, stamps)
