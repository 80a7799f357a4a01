"""What differs between the run and this machine (config artifact, code, lock file,
environment, fingerprint, commit), said before and around the rerun."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprokit.core.content.code import code_hash
from reprokit.core.content.files import lock_hash
from reprokit.core.content.fingerprint import compute_fingerprint
from reprokit.core.content.params import canonical_hash, result_config
from reprokit.core.environment import (
    byte_environment,
    describe_changes,
    environment_changes,
)
from reprokit.core.names import (
    CODE_HASH_TAG,
    CONFIG_HASH_TAG,
    ENV_TAG,
    FINGERPRINT_TAG,
    GIT_DIRTY_TAG,
    LOCK_HASH_TAG,
)
from reprokit.errors import ConfigError
from reprokit.layout import pipeline_code_files
from reprokit.tracking.runs import COMPOSED_CONFIG, RecordedRun

if TYPE_CHECKING:
    from reprokit.config.models import ReprokitConfig


def validated(params: Mapping[str, Any], run_id: str) -> ReprokitConfig:
    from reprokit.config.compose import validate

    try:
        return validate(params, lambda _key: f"{COMPOSED_CONFIG} of run {run_id}")
    except ConfigError as error:
        raise ConfigError(
            f"the run's config does not validate with the current code ({error}); "
            "`reprokit reproduce --at-commit` reruns it with the code it ran with"
        ) from None


def current_code_hash(config: ReprokitConfig, root: Path) -> str:
    """The code hash exactly as the fingerprint computes it, for the code under `root`."""
    return code_hash(root, pipeline_code_files(config, root))


def environment_note(run: RecordedRun) -> str:
    """Whether this machine could compute other bytes than the run's (CPU, SIMD, BLAS...)."""
    recorded = run.environment
    if not recorded:
        return f"environment: the run recorded none (recorded before {ENV_TAG}* tags)"
    current = byte_environment()
    changes = environment_changes(recorded, current)
    if not changes:
        return f"environment: same as the run's (environment hash {current['hash']})"
    return f"environment: differs from the run's: {describe_changes(changes)}"


def _short(value: str | None) -> str:
    return (value or "unknown")[:12]


def notes_before(
    run: RecordedRun, params: Mapping[str, Any], config: ReprokitConfig | None, root: Path
) -> list[str]:
    """What differs between the run and the code and lock file here, said up front."""
    notes = []
    if canonical_hash(result_config(params)) != run.tag(CONFIG_HASH_TAG):
        notes.append(
            f"warning: {COMPOSED_CONFIG} does not hash to the run's config hash "
            f"{_short(run.tag(CONFIG_HASH_TAG))}: the artifact may have been altered"
        )
    if config is not None:
        code = current_code_hash(config, root)
        if code == run.tag(CODE_HASH_TAG):
            notes.append(f"code: same as the run's (code hash {_short(code)})")
        else:
            notes.append(
                f"code: the current code differs from the run's (code hash {_short(code)}, "
                f"recorded {_short(run.tag(CODE_HASH_TAG))})"
            )
    notes.append(environment_note(run))
    lock = lock_hash(root)
    if lock == run.tag(LOCK_HASH_TAG):
        notes.append(f"uv.lock: same as the run's (hash {_short(lock)})")
    else:
        notes.append(
            f"uv.lock: differs from the run's (hash {_short(lock)}, recorded "
            f"{_short(run.tag(LOCK_HASH_TAG))}): package versions may differ"
        )
    return notes


def fingerprint_note(
    run: RecordedRun,
    params: Mapping[str, Any],
    config: ReprokitConfig | None,
    workspace: Path,
    files: Mapping[str, Path],
) -> str | None:
    """The fingerprint of what the rerun ran with: the run's config and data, the
    workspace's code and lock file."""
    if config is None:
        return None
    value = compute_fingerprint(
        params, workspace, files, pipeline_code_files(config, workspace)
    ).value
    if value == run.tag(FINGERPRINT_TAG):
        return f"fingerprint: the rerun's inputs have the run's fingerprint {_short(value)}"
    return (
        f"fingerprint: the rerun's inputs have fingerprint {_short(value)}, the run "
        f"{_short(run.tag(FINGERPRINT_TAG))} (code or lock file differ, see above)"
    )


def commit_note(run: RecordedRun, commit: str) -> str:
    note = f"code: reproducing with the code of commit {commit[:12]} (--at-commit)"
    if run.tag(GIT_DIRTY_TAG) == "true":
        note += (
            "; warning: the run was recorded with uncommitted changes, so the commit's code "
            "may not be the code that ran"
        )
    return note


def config_for_notes(
    params: Mapping[str, Any], run_id: str, at_commit: bool
) -> ReprokitConfig | None:
    """The run's config validated by the current code; None when only the commit's code
    accepts it (--at-commit then reruns it, without the code-hash notes)."""
    try:
        return validated(params, run_id)
    except ConfigError:
        if not at_commit:
            raise
        return None
