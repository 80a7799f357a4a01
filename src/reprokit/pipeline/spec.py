"""Declared nodes and pipelines -> Kedro `Pipeline` objects, checked before anything runs.

A spec naming a missing function, binding an argument the function does not take, reading
a dataset nobody writes, or forming a cycle fails here with a message naming the node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kedro.pipeline import Pipeline, node
from kedro.pipeline.node import Node

from reprokit.config.models import NodeSpec, PipelineSpec
from reprokit.config.user_params import check_signature
from reprokit.config.user_params import import_function as import_function  # noqa: PLC0414  (re-export)
from reprokit.core.dotted import lookup as lookup  # noqa: PLC0414  (re-export)
from reprokit.errors import PipelineSpecError

PARAMS_PREFIX = "params:"


def _check_binding(
    name: str, spec: NodeSpec, function: Callable[..., Any], params: Mapping[str, Any]
) -> None:
    arguments = [*spec.inputs, *spec.params]
    duplicated = sorted(set(spec.inputs) & set(spec.params))
    if duplicated:
        raise PipelineSpecError(
            f"node {name!r}: arguments {duplicated} bound twice (in both inputs and params)"
        )
    check_signature(name, spec.func, function, arguments)
    for argument, key in spec.params.items():
        try:
            lookup(params, key)
        except KeyError:
            raise PipelineSpecError(
                f"node {name!r}: argument {argument!r} binds params key {key!r}, "
                f"which the composed config does not have"
            ) from None


def build_node(
    name: str, spec: NodeSpec, params: Mapping[str, Any], tags: Sequence[str] = ()
) -> Node:
    function = import_function(name, spec.func)
    _check_binding(name, spec, function, params)
    inputs = {**spec.inputs, **{arg: PARAMS_PREFIX + key for arg, key in spec.params.items()}}
    return node(
        function, inputs=inputs or None, outputs=spec.outputs, name=name, tags=list(tags) or None
    )


def pipelines_of(spec: PipelineSpec, node_name: str) -> list[str]:
    """The declared pipelines a node belongs to: its tags (`kedro run --tags=train`, the
    tag filter in kedro-viz)."""
    return [name for name, nodes in spec.pipelines.items() if node_name in nodes]


def _produced_by(spec: PipelineSpec) -> dict[str, str]:
    """Which declared pipeline writes each dataset, from the spec alone (no node imported)."""
    return {
        output: pipeline_name
        for pipeline_name, node_names in spec.pipelines.items()
        for name in node_names
        if name in spec.nodes
        for output in spec.nodes[name].output_names
    }


def _check_datasets(
    pipelines: Mapping[str, Pipeline], produced_by: Mapping[str, str], catalog: Mapping[str, Any]
) -> None:
    """Every dataset read is written by a node or declared; crossings between pipelines
    (separate DVC stages, separate processes) must be files in the catalog."""
    for pipeline_name, pipeline in pipelines.items():
        for dataset in sorted(pipeline.inputs()):
            if dataset.startswith(PARAMS_PREFIX) or dataset in catalog:
                continue
            reader = next(n.name for n in pipeline.nodes if dataset in n.inputs)
            if dataset in produced_by:
                raise PipelineSpecError(
                    f"dataset {dataset!r} passes from pipeline {produced_by[dataset]!r} to "
                    f"pipeline {pipeline_name!r} (node {reader!r}) but is not declared in "
                    f"the catalog: stages run in separate processes, so it must be a file"
                )
            raise PipelineSpecError(
                f"node {reader!r} reads dataset {dataset!r}, which no node writes and the "
                f"catalog does not declare"
            )


def build_pipelines(
    spec: PipelineSpec,
    params: Mapping[str, Any],
    catalog: Mapping[str, Any],
    only: Sequence[str] | None = None,
) -> dict[str, Pipeline]:
    """All declared pipelines, plus `__default__` (every pipeline, in dependency order).

    With `only` (declared pipeline names), just those: a DVC stage imports its own nodes'
    code, not every node's (the evaluate stage's plotting, the prepare stage's Pandera).
    """
    from kedro.pipeline.pipeline import CircularDependencyError, OutputNotUniqueError

    chosen = list(spec.pipelines) if only is None else [n for n in spec.pipelines if n in only]
    wanted = {n for pipeline_name in chosen for n in spec.pipelines[pipeline_name]}
    nodes = {
        name: build_node(name, node_spec, params, pipelines_of(spec, name))
        for name, node_spec in spec.nodes.items()
        if only is None or name in wanted
    }
    pipelines: dict[str, Pipeline] = {}
    for pipeline_name in chosen:
        node_names = spec.pipelines[pipeline_name]
        unknown = [n for n in node_names if n not in nodes]
        if unknown:
            raise PipelineSpecError(
                f"pipeline {pipeline_name!r} lists unknown nodes {unknown}; declared nodes: "
                f"{sorted(spec.nodes)}"
            )
        try:
            pipelines[pipeline_name] = Pipeline([nodes[n] for n in node_names])
        except (CircularDependencyError, OutputNotUniqueError) as error:
            raise PipelineSpecError(f"pipeline {pipeline_name!r}: {error}") from None
    if only is None:
        try:
            pipelines["__default__"] = Pipeline(list(nodes.values()))
        except (CircularDependencyError, OutputNotUniqueError) as error:
            raise PipelineSpecError(f"the declared nodes: {error}") from None
    _check_datasets(
        {name: pipeline for name, pipeline in pipelines.items() if name != "__default__"},
        _produced_by(spec),
        catalog,
    )
    return pipelines
