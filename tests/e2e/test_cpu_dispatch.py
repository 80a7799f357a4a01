"""Same config + same data -> the same bytes whatever SIMD level numpy dispatches to.

The whole pipeline runs twice on the bundled data: once with every SIMD target this CPU
offers (AVX-512 on a server), once with numpy held at its baseline (NPY_DISABLE_CPU_FEATURES
naming every dispatched target), and every file it writes is compared byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from tests.support import copy_project, tool_env

from reprokit.core.environment import numpy_simd

pytestmark = pytest.mark.slow


def _outputs(project: Path) -> dict[str, str]:
    data = project / "data"
    return {
        str(path.relative_to(data)): hashlib.md5(path.read_bytes()).hexdigest()
        for path in sorted(data.rglob("*"))
        if path.is_file()
    }


def _dispatch_in(env: dict[str, str], cwd: Path) -> str:
    code = "import json; from reprokit.core.environment import numpy_simd; "
    code += "print(json.dumps(numpy_simd()))"
    out = subprocess.run(
        ["python", "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return str(json.loads(out.stdout)["simd"])


def _pipeline_outputs(project: Path, disabled: str | None) -> dict[str, str]:
    env = tool_env(project)
    if disabled:
        env["NPY_DISABLE_CPU_FEATURES"] = disabled
    result = subprocess.run(
        ["reprokit", "run", "tracking=none"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return _outputs(project)


def test_every_output_has_the_same_bytes_at_the_highest_and_the_baseline_simd_level(
    tmp_path: Path,
) -> None:
    dispatched = numpy_simd()["simd"]
    if dispatched == "none":
        pytest.skip("numpy dispatches to no SIMD target above its baseline on this CPU")
    highest, baseline = copy_project(tmp_path / "highest"), copy_project(tmp_path / "baseline")
    env = tool_env(baseline) | {"NPY_DISABLE_CPU_FEATURES": dispatched}
    assert _dispatch_in(env, baseline) == "none"  # the variable really held numpy back

    at_highest = _pipeline_outputs(highest, None)
    at_baseline = _pipeline_outputs(baseline, dispatched)

    assert any(name.endswith("_features.parquet") for name in at_highest)
    assert any(name.endswith("model.txt") for name in at_highest)
    differing = sorted(n for n in at_highest if at_highest[n] != at_baseline.get(n))
    assert differing == [], f"outputs that depend on numpy's SIMD level ({dispatched}): {differing}"
    assert set(at_highest) == set(at_baseline)
