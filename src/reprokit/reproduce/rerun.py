"""The rerun: every declared pipeline of the workspace, with the code imported here or, for
another commit's code, in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from reprokit.reproduce.errors import ReproductionError


def rerun_in_process(workspace: Path) -> None:
    """Every declared pipeline from the workspace's params.yaml, with the code imported here."""
    from reprokit.config.compose import workspace_from_params_file
    from reprokit.runner import run_pipelines

    loaded = workspace_from_params_file(workspace)
    try:
        run_pipelines(loaded.config, loaded.params, loaded.root)
    except Exception as error:
        raise ReproductionError(f"the rerun failed: {type(error).__name__}: {error}") from error


# Runs in a fresh interpreter with the commit's `src/` first on PYTHONPATH. It uses only
# APIs that every commit recording runs has, and refuses to run another copy of reprokit.
RERUN_SCRIPT = """
import sys
from pathlib import Path

import reprokit

root = Path(sys.argv[1]).resolve()
if not Path(reprokit.__file__).resolve().is_relative_to(root / "src"):
    sys.exit(f"imported reprokit from {reprokit.__file__}, not from {root / 'src'}")
from reprokit.config.compose import load_config, read_params
from reprokit.runner import run_pipelines

run_pipelines(load_config(root), read_params(root), root)
"""


def rerun_in_subprocess(workspace: Path, commit: str) -> None:
    """Every declared pipeline, with the code of the workspace's own `src/` (another commit's
    code cannot be imported into this process, which already runs the current code)."""
    path = [str(workspace / "src"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    result = subprocess.run(
        [sys.executable, "-c", RERUN_SCRIPT, str(workspace)],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-30:])
        raise ReproductionError(
            f"the rerun with the code of commit {commit} failed (exit {result.returncode}):\n{tail}"
        )
