"""The Dask engine's mapping of the declared pipeline and catalog (pure; no cluster needed).

Switching engines changes no node code and no pipeline YAML. Each declared node keeps its
name, inputs and outputs; where its function has a Dask implementation (registered by the
function's import path, see `register_dask_node`) that runs instead. A node without one
runs unchanged if it receives no table (e.g. the quality gate), and fails naming itself if
it would receive a Dask table (it would need the whole table in this process).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from reprokit._compat.kedro import with_func
from reprokit.core.registry import Registry
from reprokit.engines.dask._api import compute
from reprokit.engines.errors import EngineError
from reprokit.logs import get_logger

log = get_logger(__name__)

_NODES = "reprokit.engines.dask.nodes"
_TRAINING = "reprokit.engines.dask.training"
REGISTER_CALL = "reprokit.engines.dask.register_dask_node(node_function_path, dask_function)"
# Pandas node function (its import path) -> its Dask implementation (same signature).
DASK_NODES: Registry[Callable[..., Any]] = Registry(
    key="Dask implementation of",
    group="reprokit.dask_nodes",
    register_call=REGISTER_CALL,
    error=EngineError,
)
for _function, _implementation in {
    "reprokit.nodes.ingest.conform_to_schema": f"{_NODES}:conform_to_schema",
    "reprokit.nodes.split.split_frame": f"{_NODES}:split_frame",
    "reprokit.nodes.features.fit_feature_state": f"{_NODES}:fit_feature_state",
    "reprokit.nodes.features.transform_features": f"{_NODES}:transform_features",
    "reprokit.nodes.train.train_model": f"{_TRAINING}:train_model",
    "reprokit.nodes.evaluate.evaluate_model": f"{_TRAINING}:evaluate_model",
}.items():
    DASK_NODES.register(_function, _implementation)
# Nodes that summarise tables (statistics a bounded sample estimates well) run the pandas
# function on a deterministic sample of at most SAMPLE_ROWS rows of each table input: the
# whole table when it is smaller, so small data gives the pandas engine's result.
SAMPLED_NODES = frozenset(
    {"reprokit.nodes.profile.build_reference_profile", "reprokit.nodes.profile.sample_reference"}
)
SAMPLE_ROWS = 200_000
SAMPLE_SEED = 0
TABLE_DATASET = "reprokit.datasets.TableDataset"
DASK_TABLE_DATASET = "reprokit.engines.dask.datasets.DaskTableDataset"
SCHEMA_VALIDATOR = "reprokit.schemas.SchemaValidator"


def register_dask_node(
    node_function: str, implementation: Callable[..., Any] | str, *, replace: bool = False
) -> None:
    """Run `implementation` (same signature; may be a `"module:attribute"` reference) on the
    Dask engine wherever a node's function is `node_function` (`module.qualname`)."""
    DASK_NODES.register(node_function, implementation, replace=replace)


def function_path(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def implementation(path: str) -> Callable[..., Any] | None:
    """The Dask implementation registered for the node function at `path`, if any."""
    return DASK_NODES.find(path)


def _refuse_tables(node_name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Run `function` as declared unless it is handed a Dask table."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        tables = [value for value in [*args, *kwargs.values()] if _is_dask_table(value)]
        if tables:
            raise EngineError(
                f"node {node_name!r}: {function_path(function)} has no Dask implementation "
                f"and would need whole tables in one process; register one with "
                f"`{REGISTER_CALL}` or run with engine=local"
            )
        return function(*args, **kwargs)

    return guarded


def _on_sample(node_name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Run `function` on bounded, deterministic samples of its Dask table inputs."""

    @functools.wraps(function)
    def sampled(**kwargs: Any) -> Any:
        tables = {name: _table(value) for name, value in kwargs.items() if _is_dask_table(value)}
        rows = compute({name: table.map_partitions(len).sum() for name, table in tables.items()})[0]
        samples = {}
        for name, table in tables.items():
            fraction = min(1.0, SAMPLE_ROWS / max(int(rows[name]), 1))
            chosen = (
                table if fraction >= 1.0 else table.sample(frac=fraction, random_state=SAMPLE_SEED)
            )
            samples[name] = chosen
        computed = compute(samples)[0]
        log.info(
            "dask.sampled_node",
            node=node_name,
            rows={name: int(count) for name, count in rows.items()},
            sampled={name: len(frame) for name, frame in computed.items()},
        )
        inputs = {name: frame.reset_index(drop=True) for name, frame in computed.items()}
        return function(**{**kwargs, **inputs})

    return sampled


def _table(value: Any) -> Any:
    from reprokit.engines.dask.validation import ValidatedFrame

    return value.frame if isinstance(value, ValidatedFrame) else value


def _is_dask_table(value: Any) -> bool:
    from reprokit.engines.dask.validation import ValidatedFrame

    module = type(value).__module__
    return isinstance(value, ValidatedFrame) or module.startswith("dask.")


def adapt_pipeline(pipeline: Any) -> Any:
    """The same pipeline, each node's function swapped for its Dask implementation."""
    from kedro.pipeline import Pipeline

    nodes = []
    for node in pipeline.nodes:
        path = function_path(node.func)
        replacement = implementation(path)
        if replacement is not None:
            func = replacement
        elif path in SAMPLED_NODES:
            func = _on_sample(node.name, node.func)
        else:
            func = _refuse_tables(node.name, node.func)
        nodes.append(with_func(node, func))
    return Pipeline(nodes)


def adapt_catalog(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Table datasets become Dask Parquet datasets; their schema validator runs per partition."""
    adapted: dict[str, dict[str, Any]] = {}
    for name, entry in entries.items():
        if entry.get("type") != TABLE_DATASET:
            adapted[name] = entry
            continue
        table = {key: value for key, value in entry.items() if key != "validator"}
        table["type"] = DASK_TABLE_DATASET
        validator = entry.get("validator")
        if validator is not None:
            table["validation"] = _validation_options(name, validator)
        adapted[name] = table
    return adapted


def _validation_options(name: str, validator: Any) -> dict[str, Any]:
    spec = validator if isinstance(validator, dict) else {}
    if spec.get("class") != SCHEMA_VALIDATOR:
        raise EngineError(
            f"catalog.{name}.validator: the Dask engine validates partitions with "
            f"{SCHEMA_VALIDATOR} only, got {spec.get('class')!r}"
        )
    return dict(spec.get("options", {}))
