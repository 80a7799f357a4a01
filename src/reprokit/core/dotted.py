"""Dotted keys (`model.params.learning_rate`) into nested params: read, drop, set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def lookup(params: Mapping[str, Any], dotted_key: str) -> Any:
    """Value of a dotted key in nested params; KeyError when absent."""
    value: Any = params
    for part in dotted_key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(dotted_key)
        value = value[part]
    return value


def drop(params: dict[str, Any], dotted_key: str) -> None:
    """Remove a dotted key in place; a key that is absent is left absent."""
    *parents, last = dotted_key.split(".")
    node: Any = params
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


def assign(params: dict[str, Any], dotted_key: str, value: Any) -> None:
    """Set a dotted key in place, creating the sections on the way."""
    *parents, last = dotted_key.split(".")
    node = params
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
