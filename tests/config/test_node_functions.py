"""Declared nodes are imported and their arguments bound when conf/ is composed: a module
that raises at import, or a func that cannot take its `inputs:`/`params:`, fails
`config check` naming the node, its func and the error (it used to pass config check and
`dvc generate`, then traceback at run time after DVC had deleted the stage's outputs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.support.project import copy_project
from tests.support.tools import run

from reprokit.config.user_params import check_node_functions


def takes_frame(frame: Any) -> Any:
    return frame


def _params(func: str, inputs: dict[str, str], params: dict[str, str]) -> dict[str, Any]:
    node = {"func": func, "inputs": inputs, "params": params, "outputs": "out"}
    return {"pipeline": {"nodes": {"mine": node}}}


def test_a_func_that_takes_its_bound_arguments_has_no_problem() -> None:
    assert check_node_functions(_params(f"{__name__}.takes_frame", {"frame": "a"}, {})) == []


def test_a_func_that_cannot_take_its_bound_arguments_names_node_func_and_arguments() -> None:
    func = f"{__name__}.takes_frame"
    [problem] = check_node_functions(_params(func, {"frame": "a"}, {"limits": "x.y"}))
    assert problem.startswith(
        f"pipeline.nodes.mine: node 'mine': {func} cannot take arguments ['frame', 'limits']"
    )


def test_a_module_raising_at_import_names_node_func_and_the_error(tmp_path: Path) -> None:
    (tmp_path / "raising_nodes_mod.py").write_text("raise RuntimeError('no GPU here')\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(tmp_path))
        [problem] = check_node_functions(_params("raising_nodes_mod.f", {"frame": "a"}, {}))
    assert problem == (
        "pipeline.nodes.mine: node 'mine': importing module 'raising_nodes_mod' for func "
        "'raising_nodes_mod.f' raised RuntimeError: no GPU here"
    )


BROKEN_NODES = {
    "raises": ("raise RuntimeError('no GPU here')\n", "raised RuntimeError: no GPU here"),
    "signature": (
        "def conform_to_schema(raw, schema, strict):\n    return raw\n",
        "cannot take arguments ['raw', 'schema']: missing a required argument: 'strict'",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_NODES))
def test_config_check_fails_on_a_broken_node_naming_it(tmp_path: Path, case: str) -> None:
    project = copy_project(tmp_path)
    code, expected = BROKEN_NODES[case]
    package = project / "src" / "my_nodes"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nodes.py").write_text(code)
    spec = project / "conf" / "pipeline" / "default.yaml"
    spec.write_text(
        spec.read_text("utf-8").replace(
            "reprokit.nodes.ingest.conform_to_schema", "my_nodes.nodes.conform_to_schema"
        )
    )
    result = run(["reprokit", "config", "check"], project, check=False)
    assert result.returncode == 2
    assert "node 'ingest'" in result.stderr
    assert "my_nodes.nodes.conform_to_schema" in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
