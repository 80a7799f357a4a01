"""Named extension points: a config key's value (`engine.kind`, `data.source.kind`) -> code.

A registry maps each kind to its implementation, given as the object itself or as an
`"module:attribute"` reference imported on first use (so a heavy engine costs nothing until
a run selects it). A user's package adds kinds without editing reprokit, in either of two
ways: a call (`register_engine`, `register_source`, in the style of Pandera's
`register_backend`), or an entry point in its own `pyproject.toml`, which needs no import
at all before the config names the kind:

    [project.entry-points."reprokit.sources"]
    warehouse = "my_package.sources:WarehouseSource"
"""

from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """The implementations of one extension point, by kind.

    Args:
        key: The config key whose value is a kind (named in every error).
        group: The entry-point group a package declares its kinds in.
        register_call: How a user registers a kind in code (named in the unknown-kind error).
        error: The error raised for an unknown or unimportable kind (a `ReprokitError`
            subclass, passed in: this floor imports no other reprokit module).
    """

    def __init__(self, key: str, group: str, register_call: str, error: type[Exception]) -> None:
        self.key = key
        self.group = group
        self.register_call = register_call
        self.error = error
        self._declared: dict[str, T | str] = {}
        self._loaded: dict[str, T] = {}

    def register(self, kind: str, implementation: T | str, *, replace: bool = False) -> None:
        """Make `kind` available; `implementation` may be a `"module:attribute"` reference.

        Raises:
            ValueError: `kind` is registered already and `replace` is false (two packages
                claiming one kind would otherwise depend on import order).
        """
        if not kind or kind.strip() != kind:
            raise ValueError(f"{self.key}: a kind must be a non-empty name, got {kind!r}")
        if kind in self._declared and not replace:
            raise ValueError(
                f"{self.key} {kind!r} is registered already; pass replace=True to override it"
            )
        self._declared[kind] = implementation
        self._loaded.pop(kind, None)

    def kinds(self) -> list[str]:
        """Every kind available: registered in code or declared by an installed package."""
        return sorted({*self._declared, *(point.name for point in self._entry_points())})

    def provides(self, kind: str) -> bool:
        """Whether `kind` is available, without importing its implementation."""
        return kind in self._declared or any(p.name == kind for p in self._entry_points())

    def get(self, kind: str) -> T:
        """The implementation of `kind`, imported on first use.

        Raises:
            Exception: (the registry's `error` class) No implementation of `kind`; the
                message names the key, the kind and every registered kind.
        """
        found = self.find(kind)
        if found is None:
            raise self.error(
                f"{self.key} is {kind!r}, which no registered kind provides; registered: "
                f"{self.kinds()}. Choose one of them, or register yours with "
                f"`{self.register_call}` or an entry point in the {self.group!r} group of "
                "your package (see the README)"
            )
        return found

    def find(self, kind: str) -> T | None:
        """The implementation of `kind`, or None when nothing provides it."""
        if kind in self._loaded:
            return self._loaded[kind]
        declared = self._declared.get(kind)
        if declared is None:
            declared = next((p.value for p in self._entry_points() if p.name == kind), None)
            if declared is None:
                return None
        loaded: T = (
            _resolve(declared, f"{self.key} {kind!r}", self.error)
            if isinstance(declared, str)
            else declared
        )
        self._loaded[kind] = loaded
        return loaded

    def _entry_points(self) -> list[EntryPoint]:
        return list(entry_points(group=self.group))


def _resolve(reference: str, what: str, error_type: type[Exception]) -> Any:
    """The object a `"module:attribute"` reference names."""
    module_name, _, attribute = reference.partition(":")
    try:
        found: object = importlib.import_module(module_name)
        for part in attribute.split(".") if attribute else []:
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise error_type(
            f"{what}: cannot import {reference!r} ({type(error).__name__}: {error}); expected "
            "an importable 'module:attribute'"
        ) from None
    return found
