"""One recorded run reproduced: download, locate, note, rerun, compare."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reprokit.reproduce.inputs import locate_inputs
from reprokit.reproduce.notes import commit_note, config_for_notes, fingerprint_note, notes_before
from reprokit.reproduce.recorded import check_finished, check_model_artifact, download_recorded
from reprokit.reproduce.rerun import rerun_in_process, rerun_in_subprocess
from reprokit.reproduce.verdict import Reproduction, output_checks
from reprokit.reproduce.workspace import build_workspace, rerun_params
from reprokit.reproduce.worktree import commit_checkout, recorded_commit
from reprokit.tracking.runs import RecordedRun, open_store, project_run

Say = Callable[[str], None]


def reproduce_run(
    root: Path,
    run_id: str,
    *,
    at_commit: bool = False,
    keep_workspace: bool = False,
    say: Say = print,
) -> Reproduction:
    """Rerun `run_id` in a temporary workspace and compare its model and metrics."""
    client, project_config = open_store(root)
    run = project_run(client, run_id, project_config.project.name)
    check_finished(run)
    commit = recorded_commit(root, run) if at_commit else None
    scratch = Path(tempfile.mkdtemp(prefix="reprokit-reproduce-"))
    try:
        return _reproduce(client, run, root, commit=commit, scratch=scratch, say=say)
    finally:
        if keep_workspace:
            say(f"workspace kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def _reproduce(
    client: Any, run: RecordedRun, root: Path, *, commit: str | None, scratch: Path, say: Say
) -> Reproduction:
    recorded = download_recorded(client, run, scratch / "recorded")
    check_model_artifact(run, recorded.model)
    params = recorded.params
    inputs = locate_inputs(run, params, root)
    config = config_for_notes(params, run.run_id, at_commit=commit is not None)
    result = Reproduction(run_id=run.run_id)

    def note(text: str) -> None:
        result.notes.append(text)
        say(text)

    for text in notes_before(run, params, config, root):
        note(text)
    for item in inputs:
        note(f"data {item.dataset}: md5 {item.md5} from the {item.origin} ({item.source})")
    if commit is not None:
        note(commit_note(run, commit))
    workspace, rerun = scratch / "workspace", rerun_params(params)
    if commit is not None:
        with commit_checkout(root, commit, scratch) as source_root:
            files = build_workspace(source_root, workspace, rerun, inputs)
    else:
        files = build_workspace(root, workspace, rerun, inputs)
    fingerprint = fingerprint_note(run, params, config, workspace, files)
    if fingerprint:
        note(fingerprint)
    say(f"rerunning run {run.run_id} in {workspace}")
    if commit is not None:
        rerun_in_subprocess(workspace, commit)
    else:
        rerun_in_process(workspace)
    result.checks = output_checks(run, recorded, workspace, rerun)
    return result
