"""Kedro's private APIs (kedro 1.7): a hook manager outside a KedroSession, and a node copy.

- `_create_hook_manager` / `_register_hooks`: Kedro's public path to hooks is a
  KedroSession with `settings.py`'s HOOKS; reprokit's runner builds its pipeline and
  catalog from the config and runs them with a Kedro runner, so it builds the hook manager
  the way KedroSession does.
- `Node._copy`: a node with its function replaced and every other attribute (name,
  inputs, outputs, namespace, tags, confirms, preview_fn) kept; rebuilding it with the
  public `node()` would have to list them all and drop any a later Kedro adds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def hook_manager(hooks: Iterable[Any] = ()) -> Any:
    """A pluggy manager with Kedro's hook specs and `hooks` (instances) registered, as
    `SequentialRunner.run(pipeline, catalog, hook_manager)` takes it."""
    from kedro.framework.hooks.manager import _create_hook_manager, _register_hooks

    manager = _create_hook_manager()
    _register_hooks(manager, tuple(hooks))
    return manager


def with_func(node: Any, func: Callable[..., Any]) -> Any:
    """A copy of the Kedro `node` that calls `func`; the original is left unchanged."""
    return node._copy(func=func)
