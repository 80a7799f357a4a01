"""How an engine is chosen and what the Dask engine changes (no cluster needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.support import PROJECT_ROOT

from reprokit.config.compose import workspace_from_conf
from reprokit.engines import engine_runner
from reprokit.engines.dask import DaskRunner
from reprokit.engines.dask.engine import (
    DASK_NODES,
    SAMPLED_NODES,
    adapt_catalog,
    adapt_pipeline,
    function_path,
)
from reprokit.engines.dask.training import early_stopping_point, require_distributed
from reprokit.engines.errors import EngineError
from reprokit.engines.local import LocalRunner
from reprokit.errors import ConfigError
from reprokit.models.lightgbm import portable_model_text
from reprokit.pipeline.spec import build_pipelines
from reprokit.runner import catalog_config


def workspace(*overrides: str) -> Any:
    return workspace_from_conf(PROJECT_ROOT, list(overrides))


def test_local_is_the_default_and_kedros_sequential_runner() -> None:
    from kedro.runner import SequentialRunner

    runner = engine_runner(workspace().config.engine)
    assert type(runner) is LocalRunner and isinstance(runner, SequentialRunner)


def test_dask_config_has_a_local_cluster_sized_for_two_cores() -> None:
    config = workspace("engine=dask").config
    assert isinstance(engine_runner(config.engine), DaskRunner)
    assert config.engine.kind == "dask"
    assert (config.engine.n_workers, config.engine.threads_per_worker) == (2, 1)
    assert config.engine.address is None


def test_an_unknown_engine_key_is_rejected_naming_it_and_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown key `engine\.workers`.*n_workers"):
        workspace("engine=dask", "+engine.workers=3")


def test_cluster_keys_without_the_dask_engine_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"\['n_workers'\] apply to engine.kind=dask only"):
        workspace("+engine.n_workers=4")


def test_every_table_becomes_a_dask_dataset_and_keeps_its_path() -> None:
    config = workspace("engine=dask").config
    entries = catalog_config(config, PROJECT_ROOT)
    adapted = adapt_catalog(entries)
    assert set(adapted) == set(entries)
    for name, entry in entries.items():
        if entry["type"] == "reprokit.datasets.TableDataset":
            assert adapted[name]["type"].endswith("DaskTableDataset")
            assert adapted[name]["filepath"] == entry["filepath"]
            assert "validator" not in adapted[name]
        else:
            assert adapted[name] == entry
    # The raw table's schema validator runs per partition, with the same options.
    assert adapted["raw"]["validation"] == entries["raw"]["validator"]["options"]


def test_nodes_keep_names_and_bindings_and_swap_only_registered_functions() -> None:
    work = workspace("engine=dask")
    pipeline = build_pipelines(work.config.pipeline, work.params, work.config.catalog)[
        "__default__"
    ]
    adapted = adapt_pipeline(pipeline)
    before = {node.name: node for node in pipeline.nodes}
    for node in adapted.nodes:
        original = before[node.name]
        assert (node.inputs, node.outputs) == (original.inputs, original.outputs)
        path = function_path(original.func)
        registered = DASK_NODES.find(path)
        if registered is not None:
            assert node.func is registered
        elif path not in SAMPLED_NODES:
            assert node.func.__wrapped__ is original.func  # runs as declared


def test_a_node_without_a_dask_implementation_refuses_a_dask_table() -> None:
    import dask.dataframe as dd
    import pandas as pd
    from kedro.pipeline import Pipeline, node

    def head(frame: Any) -> Any:
        return frame.head()

    pipeline = adapt_pipeline(Pipeline([node(head, "table", "out", name="peek")]))
    guarded = pipeline.nodes[0].func
    assert guarded(pd.DataFrame({"a": [1]})).shape == (1, 1)  # plain values pass through
    with pytest.raises(EngineError, match=r"node 'peek'.*no Dask implementation"):
        guarded(dd.from_pandas(pd.DataFrame({"a": [1]}), npartitions=1))


def test_early_stopping_point_follows_lightgbms_rule() -> None:
    # Best at index 2; stops once `rounds` iterations pass without a strict improvement.
    losses = np.array([0.5, 0.4, 0.3, 0.3, 0.31, 0.35, 0.2])
    assert early_stopping_point(losses, 3) == (5, 2)
    assert early_stopping_point(losses, 10) == (6, 6)  # never stopped: the last is best
    assert early_stopping_point(losses, 0) == (6, 6)


def test_model_text_drops_the_run_specific_network_setup() -> None:
    text = (
        "tree\n[num_threads: 1]\n[machines: 127.0.0.1:40001,127.0.0.1:40002]\n"
        "[local_listen_port: 40001]\n[tree_learner: data]\npandas_categorical:[]\n"
    )
    portable = portable_model_text(text)
    assert "[machines: ]" in portable and "[local_listen_port: 12400]" in portable
    assert "[num_threads: 0]" in portable and "[tree_learner: data]" in portable
    assert portable.endswith("pandas_categorical:null\n")


def test_dask_training_of_a_learner_without_it_names_the_kind_and_the_fix() -> None:
    require_distributed("lightgbm")
    with pytest.raises(EngineError, match=r"model.kind is 'xgboost': run it with engine=local"):
        require_distributed("xgboost")
