"""Engines are Kedro runners chosen by `engine.kind` through a public registry."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from kedro.runner import SequentialRunner
from tests.plugins import install_plugin, restored
from tests.support import PROJECT_ROOT

from reprokit.config.compose import workspace_from_conf
from reprokit.config.models import EngineConfig
from reprokit.engines import ENGINES, engine_runner, register_engine, registered_engines
from reprokit.engines.dask.datasets import DaskTableDataset
from reprokit.engines.dask.runner import dask_catalog, project_engine
from reprokit.engines.errors import EngineError
from reprokit.errors import ConfigError
from reprokit.runner import build_catalog


class RecordingRunner(SequentialRunner):
    """A user's engine: Kedro's sequential runner that keeps the config it was built with."""

    def __init__(self, engine: EngineConfig, is_async: bool = False) -> None:
        super().__init__(is_async=is_async)
        self.engine = engine


def test_an_unknown_engine_fails_validation_naming_the_key_and_the_registered_engines() -> None:
    with pytest.raises(
        ConfigError, match=r"`engine.kind` .*override.*'spark'.*registered: \['dask', 'local'\]"
    ):
        workspace_from_conf(PROJECT_ROOT, ["engine.kind=spark"])


def test_a_registered_engine_is_built_from_the_engine_section() -> None:
    with restored(ENGINES):
        register_engine("recording", RecordingRunner)
        config = workspace_from_conf(PROJECT_ROOT, ["engine.kind=recording"]).config
        runner = engine_runner(config.engine)
        assert isinstance(runner, RecordingRunner) and runner.engine is config.engine
        assert "recording" in registered_engines()
        with pytest.raises(ValueError, match="registered already"):
            register_engine("recording", RecordingRunner)


def test_an_installed_package_declares_an_engine_by_entry_point(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = """
        from kedro.runner import SequentialRunner

        class PluginRunner(SequentialRunner):
            def __init__(self, engine, is_async=False):
                super().__init__(is_async=is_async)
                self.engine = engine
    """
    points = {"reprokit.engines": {"plugin": "my_engines:PluginRunner"}}
    install_plugin(monkeypatch, tmp_path, "my_engines", source, points)
    assert "plugin" in registered_engines()
    runner = engine_runner(EngineConfig(kind="plugin"))
    assert type(runner).__module__ == "my_engines" and runner.engine.kind == "plugin"


def test_the_dask_runner_maps_tables_and_keeps_params_and_names() -> None:
    work = workspace_from_conf(PROJECT_ROOT, ["engine=dask"])
    catalog = build_catalog(work.config, work.params, PROJECT_ROOT)
    adapted = dask_catalog(catalog)
    assert set(adapted.keys()) == set(catalog.keys())
    raw = adapted.get("raw")
    assert isinstance(raw, DaskTableDataset) and raw.validation is not None
    assert raw.path == PROJECT_ROOT / work.config.catalog["raw"]["filepath"]
    assert adapted.load("params:split") == catalog.load("params:split")
    assert type(adapted.get("model")) is type(catalog.get("model"))


def test_kedro_run_with_the_dask_runner_needs_params_composed_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(PROJECT_ROOT)  # params.yaml: engine.kind=local
    with pytest.raises(EngineError, match=r"engine\.kind='local'.*compose engine=dask"):
        project_engine()


def private_uses(tree: ast.Module) -> list[str]:
    """Private names of other reprokit packages that `tree` imports or reads."""
    imported = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("reprokit.")
        and not (node.module or "").startswith("reprokit.engines")
        # The home of third-party private APIs, public to reprokit by design.
        and not (node.module or "").startswith("reprokit._compat")
    ]
    found = [f"{node.module}" for node in imported if "._" in f"{node.module}"]
    found += [
        f"{node.module}.{a.name}" for node in imported for a in node.names if a.name[0] == "_"
    ]
    aliases = {a.asname or a.name for node in imported for a in node.names}
    found += [
        f"{node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in aliases
        and node.attr.startswith("_")
    ]
    return found


def test_the_engines_use_no_private_name_of_the_nodes_or_schemas() -> None:
    engines = PROJECT_ROOT / "src/reprokit/engines"
    uses = {
        str(path.relative_to(engines)): private_uses(ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(engines.rglob("*.py"))
    }
    assert {path: names for path, names in uses.items() if names} == {}


def user_node(frame: Any) -> Any:
    return frame


def dask_user_node(frame: Any) -> Any:
    return frame


def test_a_users_node_gets_a_dask_implementation_by_registration() -> None:
    from kedro.pipeline import Pipeline, node

    from reprokit.engines.dask import register_dask_node
    from reprokit.engines.dask.engine import DASK_NODES, adapt_pipeline, function_path

    with restored(DASK_NODES):
        register_dask_node(function_path(user_node), dask_user_node)
        adapted = adapt_pipeline(Pipeline([node(user_node, "table", "out", name="mine")]))
    assert adapted.nodes[0].func is dask_user_node
