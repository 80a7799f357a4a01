"""A step's inputs, hashed before it starts and after it finishes: if another process
changed them meanwhile, the step fails and records nothing.

The project lock keeps reprokit's own writers apart and DVC's rwlock keeps DVC's commands
off a running stage's files; this catches anything else that writes them (an editor, a
script, a lock bypassed on a shared filesystem). A failing stage command is also what stops
DVC from saving the stage in dvc.lock and its run-cache (dvc/stage/__init__.py: `save` and
`commit` come after the command), so outputs made from changing inputs are never cached.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from reprokit.core.content.files import content_hash as content_key
from reprokit.core.names import PARAMS_FILE
from reprokit.errors import ReprokitError

MISSING = "missing"
DVC_FILE = "dvc.yaml"


class InputsChangedError(ReprokitError):
    """A file a step read changed while it ran: its result cannot be trusted or recorded."""


def content_hash(path: Path) -> str:
    """The lineage core's content key of a file or folder; `missing` when it does not exist."""
    return content_key(path) or MISSING


def snapshot(root: Path, files: Iterable[str | Path]) -> dict[str, str]:
    """Content hash of each file (relative to `root` unless absolute), by its name."""
    return {str(name): content_hash(root / name) for name in sorted({str(f) for f in files})}


def changed_inputs(root: Path, before: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """The files whose content differs from `before`: name -> (before, now)."""
    now = snapshot(root, before)
    return {name: (was, now[name]) for name, was in before.items() if now[name] != was}


def verify_unchanged(
    root: Path, before: Mapping[str, str], step: str, since: str = "while it ran"
) -> None:
    """Raise InputsChangedError naming each file that changed since `before`."""
    changed = changed_inputs(root, before)
    if not changed:
        return
    listed = "; ".join(f"{name} (md5 {was} -> {now})" for name, (was, now) in changed.items())
    raise InputsChangedError(
        f"{step}: its inputs changed {since}: {listed}. Nothing was recorded. Another "
        "process wrote them: run one writer at a time (reprokit's commands wait for the "
        "project lock) and rerun"
    )


def verify_recorded_inputs(root: Path, records: Mapping[str, Mapping[str, object]]) -> None:
    """Each stage record's inputs still have the content that stage read: what the `track`
    stage hashes into the fingerprint is then what the stages read, not a later file."""
    for stage, record in sorted(records.items()):
        inputs = record.get("inputs")
        if isinstance(inputs, dict) and inputs:
            verify_unchanged(root, inputs, f"DVC stage {stage!r}", "since it ran")


@contextmanager
def unchanged_inputs(root: Path, files: Iterable[str | Path], step: str) -> Iterator[None]:
    """Hash `files` now, run the block, and fail if any of them changed meanwhile."""
    before = snapshot(root, files)
    yield
    verify_unchanged(root, before, step)


def dvc_stage_deps(root: Path, stage: str) -> list[str]:
    """The deps dvc.yaml declares for `stage` (the files DVC hashes for it); none for a
    stage dvc.yaml does not have."""
    from reprokit.core.yaml_text import load_yaml

    path = root / DVC_FILE
    if not path.is_file():
        return []
    document = load_yaml(path.read_text(encoding="utf-8"))
    declared = ((document or {}).get("stages") or {}).get(stage) or {}
    return [str(dep) for dep in declared.get("deps") or []]


def stage_inputs(root: Path, stage: str) -> list[str]:
    """What a stage command reads: its deps, and params.yaml, its config. (params.yaml is
    checked only while the stage runs: DVC reruns a stage for the params it uses only.)"""
    return [*dvc_stage_deps(root, stage), PARAMS_FILE]
