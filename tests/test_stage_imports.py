"""What a DVC stage's process imports before its first node: only what its own nodes need.

Each check runs in a fresh interpreter (this process has imported everything already) and
reads `sys.modules` there. A regression (a heavy import at module level of a reprokit
package, a stage importing every node) makes the listed library appear.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support import PROJECT_ROOT, copy_project, tool_env

# DVC's hashing libraries: a stage hashes its inputs with hashlib (the same md5, pinned in
# tests/core/test_content_keys.py); importing dvc_data took ~0.1 s of every stage's start-up.
DVC_HASHING = ("dvc", "dvc_data", "dvc_objects")
HEAVY = ("pandera", "sklearn", "lightgbm", "matplotlib", "mlflow", "bentoml", "dask", "scipy")

# A stage's set-up as `reprokit stage NAME` does it, up to handing its nodes to the runner.
STAGE_SETUP = """
import json, sys
from pathlib import Path
import reprokit.cli, reprokit.execution
from reprokit.config.compose import workspace_from_params_file
from reprokit.dvcgen.freshness import check_dvc_yaml_fresh
from reprokit.input_guard import snapshot, stage_inputs
from reprokit.pipeline.spec import build_pipelines
root = Path.cwd()
snapshot(root, stage_inputs(root, sys.argv[1]))
workspace = workspace_from_params_file(root)
check_dvc_yaml_fresh(workspace.config, root)
config = workspace.config
build_pipelines(config.pipeline, workspace.params, config.catalog, only=[sys.argv[1]])
print(json.dumps(sorted(sys.modules)))
"""

MODULES = "print(json.dumps(sorted(sys.modules)))"
# reprokit's logging set up as every command does, its root handlers kept in `ours`.
LOGGING_SETUP = (
    "import json, logging, sys; from reprokit.core.env import disable_telemetry; "
    "disable_telemetry(); from reprokit.logs import configure_logging; "
    "configure_logging('json'); ours = list(logging.getLogger().handlers); "
)


@pytest.fixture(scope="module")
def stage_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy: the stage's dvc.yaml check records its pass under the project's .reprokit/."""
    return copy_project(tmp_path_factory.mktemp("stage_imports") / "project")


def _modules_after(code: str, *args: str, cwd: Path = PROJECT_ROOT) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=tool_env(cwd),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {name.split(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}


@pytest.mark.parametrize(
    ("stage", "allowed"),
    [
        # Pandera validates the raw table; the split imports scikit-learn only when it runs.
        ("prepare", {"pandera"}),
        ("features", set()),
        # LightGBM and scikit-learn are imported by the nodes when they run, not before.
        ("train", set()),
        ("evaluate", set()),
    ],
)
def test_a_stage_imports_no_other_stages_libraries_before_its_nodes(
    stage: str, allowed: set[str], stage_project: Path
) -> None:
    loaded = _modules_after(STAGE_SETUP, stage, cwd=stage_project)
    assert sorted(loaded & (set(HEAVY) - allowed)) == []
    assert sorted(loaded & set(DVC_HASHING)) == []


def test_validating_the_config_imports_no_data_library() -> None:
    code = (
        "import json, sys; from pathlib import Path; "
        "from reprokit.config.compose import load_config; load_config(Path.cwd()); " + MODULES
    )
    loaded = _modules_after(code)
    assert sorted(loaded & {"pandas", "pyarrow", "rich", *HEAVY}) == []


def test_setting_up_logging_imports_no_kedro_and_kedro_keeps_it() -> None:
    """Kedro's logging config for reprokit is an empty incremental one: no command imports
    Kedro to set up logging, and Kedro's runner, which applies that config on import,
    leaves reprokit's handlers in place."""
    assert "kedro" not in _modules_after(LOGGING_SETUP + MODULES)
    kept = "import kedro.runner; assert logging.getLogger().handlers == ours, 'replaced'; "
    assert "kedro" in _modules_after(LOGGING_SETUP + kept + MODULES)
