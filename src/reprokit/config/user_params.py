"""Parameters of a user's own nodes: config keys no typed model declares.

Every typed model forbids unknown keys, so a misspelt key fails loudly. A user's node
still needs its own parameters (README, "Your own nodes"), and a user must not edit
reprokit's models for that. The rule: a key that some declared node binds through
`params:` is the user's, even where the typed models would reject it; it is checked
against the type hint of the argument it binds instead (pydantic `TypeAdapter`; an
unannotated argument takes any YAML value). A key nothing binds is rejected exactly as
before. The binding is the declaration: it names the key, its owner (node and function)
and its type in one place, so no separate namespace or registration is needed.

The value is checked, not converted: the node receives the YAML value as params.yaml holds
it, the same way built-in nodes receive their sections.

Imports nothing from kedro (config stays below the pipeline layer); a function is imported
only for a node that binds such a key, so the default project imports no node code here.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import PydanticSchemaGenerationError, TypeAdapter, ValidationError

from reprokit.config.errors import Provenance, models_at
from reprokit.errors import PipelineSpecError


@dataclass(frozen=True)
class Binding:
    """One `params:` entry of a declared node: argument `argument` of `func` <- `key`."""

    key: str
    node: str
    argument: str
    func: str

    @property
    def owner(self) -> str:
        return f"node {self.node!r} ({self.func}, argument `{self.argument}`)"


def import_function(node_name: str, dotted: str) -> Callable[..., Any]:
    """Import `package.module.function`, or fail naming the node and what was missing."""
    module_name, _, attribute = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise PipelineSpecError(
            f"node {node_name!r}: cannot import module {module_name!r} for func {dotted!r} "
            f"({error})"
        ) from None
    except Exception as error:  # the user's module code runs here: any error is theirs
        raise PipelineSpecError(
            f"node {node_name!r}: importing module {module_name!r} for func {dotted!r} "
            f"raised {type(error).__name__}: {error}"
        ) from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise PipelineSpecError(
            f"node {node_name!r}: module {module_name!r} has no function {attribute!r} "
            f"(func {dotted!r})"
        )
    return function  # type: ignore[no-any-return]


def check_signature(
    node_name: str, dotted: str, function: Callable[..., Any], arguments: Sequence[str]
) -> None:
    """PipelineSpecError unless `function` can be called with exactly `arguments`."""
    try:
        inspect.signature(function).bind(**dict.fromkeys(arguments))
    except TypeError as error:
        raise PipelineSpecError(
            f"node {node_name!r}: {dotted} cannot take arguments {list(arguments)}: {error}"
        ) from None


def check_node_functions(params: Mapping[str, Any]) -> list[str]:
    """A problem per declared node whose `func` does not import or cannot take the
    arguments its `inputs:` and `params:` bind. Run at compose time, so a broken node
    fails `config check` instead of a run after DVC has deleted the stage's outputs.
    Malformed entries are left to the typed validation of `pipeline`."""
    pipeline = params.get("pipeline")
    nodes = pipeline.get("nodes") if isinstance(pipeline, Mapping) else None
    problems: list[str] = []
    for name, spec in nodes.items() if isinstance(nodes, Mapping) else ():
        if not isinstance(spec, Mapping) or not isinstance(spec.get("func"), str):
            continue
        arguments = [
            str(argument)
            for section in ("inputs", "params")
            if isinstance(spec.get(section), Mapping)
            for argument in spec[section]
        ]
        try:
            function = import_function(str(name), spec["func"])
            check_signature(str(name), spec["func"], function, arguments)
        except PipelineSpecError as error:
            problems.append(f"pipeline.nodes.{name}: {error}")
    return problems


def bindings(params: Mapping[str, Any]) -> list[Binding]:
    """Every `params:` binding in the raw `pipeline.nodes`. Malformed entries are skipped:
    the typed validation of `pipeline` reports them with its own messages."""
    pipeline = params.get("pipeline")
    nodes = pipeline.get("nodes") if isinstance(pipeline, Mapping) else None
    if not isinstance(nodes, Mapping):
        return []
    found: list[Binding] = []
    for name, spec in nodes.items():
        if not isinstance(spec, Mapping) or not isinstance(spec.get("params"), Mapping):
            continue
        func = str(spec.get("func", ""))
        for argument, key in spec["params"].items():
            if isinstance(key, str) and key:
                found.append(Binding(str(key), str(name), str(argument), func))
    return found


def is_declared(key: str) -> bool:
    """Whether the typed models own `key`: every step down names a model field, or the
    path enters a typed value that is not a model (a dict such as `catalog`), whose own
    annotation then validates what is below."""
    parts = key.split(".")
    for depth, part in enumerate(parts):
        models = models_at(parts[:depth])
        if not models:
            return True
        if not any(part in (name, f.alias) for m in models for name, f in m.model_fields.items()):
            return False
    return True


def _present(params: Mapping[str, Any], parts: Sequence[str]) -> bool:
    node: Any = params
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _value(params: Mapping[str, Any], parts: Sequence[str]) -> Any:
    node: Any = params
    for part in parts:
        node = node[part]
    return node


def without_keys(params: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """A copy of `params` without `keys`; a mapping left empty by the removal goes too
    unless the typed models declare it (an emptied `features:` stays `features: {}`)."""
    result: dict[str, Any] = copy.deepcopy(dict(params))
    for key in keys:
        parts = key.split(".")
        if not _present(result, parts):
            continue
        for depth in range(len(parts), 0, -1):
            parent = _value(result, parts[: depth - 1])
            child = parent[parts[depth - 1]]
            if depth < len(parts) and (child or is_declared(".".join(parts[:depth]))):
                break
            del parent[parts[depth - 1]]
    return result


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else repr(hint).replace("typing.", "")


def _hint(binding: Binding) -> tuple[bool, Any]:
    """(annotated, hint) of the bound argument; PipelineSpecError if the function is not
    importable or its hints do not resolve."""
    function = import_function(binding.node, binding.func)
    if binding.argument not in inspect.signature(function).parameters:
        # The pipeline spec check names a binding the function cannot take.
        return False, None
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except (NameError, TypeError) as error:
        raise PipelineSpecError(
            f"{binding.owner}: cannot resolve the function's type hints ({error})"
        ) from None
    return (binding.argument in hints), hints.get(binding.argument)


def _check_value(binding: Binding, value: Any, source: str) -> list[str]:
    try:
        annotated, hint = _hint(binding)
    except PipelineSpecError as error:
        return [f"`{binding.key}` in {source}: {error}"]
    if not annotated:
        return []
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(hint)
    except PydanticSchemaGenerationError:
        return [
            f"`{binding.key}` in {source}: {binding.owner} is annotated "
            f"{_type_name(hint)}, which no config value can be; bind a dataset through "
            f"`inputs:` instead, or annotate a YAML type"
        ]
    try:
        adapter.validate_python(value)
    except ValidationError as error:
        return [
            f"`{binding.key}{''.join(f'[{p}]' for p in item['loc'])}` (value "
            f"{item.get('input')!r}) in {source}: {binding.owner} expects "
            f"{_type_name(hint)}: {item['msg']}"
            for item in error.errors()
        ]
    return []


def check_user_params(
    params: Mapping[str, Any], provenance: Provenance
) -> tuple[dict[str, Any], list[str]]:
    """`params` without the user's bound keys (for the typed models), and the problems of
    those keys: missing, or not what the bound argument's type hint expects."""
    user = [b for b in bindings(params) if not is_declared(b.key)]
    problems: list[str] = []
    for binding in user:
        parts = binding.key.split(".")
        source = provenance(binding.key)
        if not _present(params, parts):
            problems.append(
                f"missing key `{binding.key}`, bound by {binding.owner}; set it in {source}"
            )
            continue
        problems.extend(_check_value(binding, _value(params, parts), source))
    if not user:  # the common case: no copy of the whole config
        return dict(params), problems
    return without_keys(params, [b.key for b in user]), problems
