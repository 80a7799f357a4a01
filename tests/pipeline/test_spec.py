"""The declared spec -> Kedro pipelines, and every way a spec can be wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from reprokit.config.models import PipelineSpec
from reprokit.errors import PipelineSpecError
from reprokit.pipeline.spec import build_pipelines

USER_NODES = textwrap.dedent(
    """
    import pandas as pd

    def add_one(frame: pd.DataFrame, column: str) -> pd.DataFrame:
        return frame.assign(**{column: frame[column] + 1})

    def total(frame: pd.DataFrame, column: str) -> float:
        return float(frame[column].sum())
    """
)
PARAMS: dict[str, Any] = {"work": {"column": "x"}}


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A user's own node module, importable the way a project package would be."""
    (tmp_path / "my_nodes.py").write_text(USER_NODES)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_nodes"


def spec(nodes: dict[str, Any], pipelines: dict[str, list[str]]) -> PipelineSpec:
    return PipelineSpec.model_validate({"nodes": nodes, "pipelines": pipelines})


def user_spec(module: str, **changes: Any) -> PipelineSpec:
    nodes = {
        "bump": {
            "func": f"{module}.add_one",
            "inputs": {"frame": "table"},
            "params": {"column": "work.column"},
            "outputs": "bumped",
        },
        "sum": {
            "func": f"{module}.total",
            "inputs": {"frame": "bumped"},
            "params": {"column": "work.column"},
            "outputs": "result",
        },
    }
    for name, change in changes.items():
        nodes[name] = {**nodes[name], **change}
    return spec(nodes, {"all": ["bump", "sum"]})


def test_user_node_from_a_function_and_yaml_runs(user_module: str) -> None:
    import pandas as pd
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    pipelines = build_pipelines(user_spec(user_module), PARAMS, {"table": {}})
    catalog = DataCatalog(
        {
            "table": MemoryDataset(pd.DataFrame({"x": [1, 2, 3]})),
            "params:work.column": MemoryDataset("x"),
        }
    )
    outputs = SequentialRunner().run(pipelines["all"], catalog)
    assert outputs["result"].load() == 9.0
    assert set(pipelines) == {"all", "__default__"}


def test_missing_function_is_named(user_module: str) -> None:
    with pytest.raises(PipelineSpecError, match=r"node 'bump'.*has no function 'add_two'"):
        build_pipelines(
            user_spec(user_module, bump={"func": f"{user_module}.add_two"}), PARAMS, {"table": {}}
        )


def test_missing_module_is_named() -> None:
    with pytest.raises(PipelineSpecError, match=r"cannot import module 'no_such_pkg\.mod'"):
        build_pipelines(user_spec("no_such_pkg.mod"), PARAMS, {"table": {}})


def test_unknown_dataset_is_named(user_module: str) -> None:
    with pytest.raises(PipelineSpecError, match=r"node 'bump' reads dataset 'table'"):
        build_pipelines(user_spec(user_module), PARAMS, {})


def test_argument_the_function_does_not_take(user_module: str) -> None:
    bad = {"params": {"colum": "work.column"}}
    with pytest.raises(PipelineSpecError, match=r"node 'bump'.*cannot take arguments"):
        build_pipelines(user_spec(user_module, bump=bad), PARAMS, {"table": {}})


def test_params_key_missing_from_config(user_module: str) -> None:
    bad = {"params": {"column": "work.colour"}}
    with pytest.raises(PipelineSpecError, match=r"params key 'work\.colour'"):
        build_pipelines(user_spec(user_module, bump=bad), PARAMS, {"table": {}})


def test_cycle_is_reported(user_module: str) -> None:
    cyclic = user_spec(
        user_module,
        bump={"inputs": {"frame": "bumped_again"}},
        sum={"func": f"{user_module}.add_one", "outputs": "bumped_again"},
    )
    with pytest.raises(PipelineSpecError, match=r"(?i)circular"):
        build_pipelines(cyclic, PARAMS, {})


def test_unknown_node_in_pipeline(user_module: str) -> None:
    bad = spec(user_spec(user_module).model_dump()["nodes"], {"all": ["bump", "summ"]})
    with pytest.raises(PipelineSpecError, match=r"unknown nodes \['summ'\]"):
        build_pipelines(bad, PARAMS, {"table": {}})


def test_dataset_crossing_pipelines_must_be_a_file(user_module: str) -> None:
    split = spec(user_spec(user_module).model_dump()["nodes"], {"a": ["bump"], "b": ["sum"]})
    with pytest.raises(PipelineSpecError, match=r"'bumped' passes from pipeline 'a'"):
        build_pipelines(split, PARAMS, {"table": {}})
    build_pipelines(split, PARAMS, {"table": {}, "bumped": {"type": "x"}})


def test_bad_function_path_is_rejected_by_the_model() -> None:
    from reprokit.config.models import NodeSpec

    with pytest.raises(ValueError, match="func"):
        NodeSpec.model_validate({"func": "not a path"})


def test_a_node_is_tagged_with_the_pipelines_it_belongs_to() -> None:
    from reprokit.config.models import PipelineSpec
    from reprokit.pipeline.spec import pipelines_of

    spec = PipelineSpec.model_construct(pipelines={"prepare": ["a", "b"], "train": ["b", "c"]})
    assert pipelines_of(spec, "b") == ["prepare", "train"]
    assert pipelines_of(spec, "c") == ["train"]
    assert pipelines_of(spec, "z") == []


def test_a_files_kedro_viz_layer_is_its_data_folder_unless_declared() -> None:
    from reprokit.runner import with_viz_layer

    assert with_viz_layer({"filepath": "data/03_primary/t.parquet"})["metadata"] == {
        "kedro-viz": {"layer": "primary"}
    }
    declared = {"filepath": "data/06_models/p.json", "metadata": {"kedro-viz": {"layer": "x"}}}
    assert with_viz_layer(declared) == declared
    kept = with_viz_layer(
        {"filepath": "data/06_models/m.txt", "metadata": {"reprokit": {"role": "model"}}}
    )
    assert kept["metadata"] == {"reprokit": {"role": "model"}, "kedro-viz": {"layer": "models"}}
    assert "metadata" not in with_viz_layer({"filepath": "elsewhere/t.csv"})
    assert "metadata" not in with_viz_layer({"type": "MemoryDataset"})
