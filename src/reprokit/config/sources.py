"""Data sources: `data.source.kind` -> a registered `DataSource` class, through a registry.

A source is a small pydantic model: its fields are the keys the source takes besides
`kind` (validated like every config section: unknown keys and wrong types are rejected,
naming the key), and `materialize(path)` makes its data exist at `data.path`. reprokit
registers `synthetic_credit`, `bundled` and `file` (reprokit.datagen.sources); a package
adds its own kind without editing reprokit, with `register_source(kind, SourceClass)` or an
entry point in the `reprokit.sources` group of its `pyproject.toml`.

This module sits on the config floor so validation can check a source's keys; the built-in
implementations are named by reference and imported only when a config uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from reprokit.core.registry import Registry
from reprokit.errors import ConfigError

KEY = "data.source"


class SourceError(ConfigError, ValueError):
    """`data.source` names an unknown kind or keys its kind does not take. A ValueError too,
    so config validation reports it against the file and key that set it.

    `keys`: the dotted keys at fault (`data.source.path`, and `data.source.kind` when the
    kind is why a key is unknown or missing), so the report names the file or command-line
    override that set each one rather than the file holding `data.source`."""

    def __init__(self, message: str, keys: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.keys = keys


class DataSource(BaseModel):
    """Base of a data source; subclass it with the source's keys as fields.

    `writes`: True when reprokit writes `data.path` from the source (a DVC `data` stage
    generates it, and `reprokit run` writes it again only when its params change); False for
    data the user provides and DVC tracks with `dvc add` (`materialize` only checks it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    writes: ClassVar[bool] = True

    def materialize(self, path: Path) -> int:
        """Make the data exist at `path` (atomically) and return its number of rows.

        Raises:
            ValueError, OSError: The data cannot be produced or found; the message says why.
        """
        raise NotImplementedError(f"{type(self).__name__}.materialize")

    def check(self, path: Path) -> None:
        """For data the user provides (`writes` False): check it is there before a run.
        Defaults to `materialize`; a source whose data the pipeline reads with `data.read`
        checks only what needs no read options (the one reader reads it in the run)."""
        self.materialize(path)


SOURCES: Registry[type[DataSource]] = Registry(
    key=f"{KEY}.kind",
    group="reprokit.sources",
    register_call="reprokit.datagen.register_source(kind, SourceClass)",
    error=SourceError,
)
for _kind, _class in {
    "synthetic_credit": "SyntheticCreditSource",
    "bundled": "BundledSource",
    "file": "FileSource",
}.items():
    SOURCES.register(_kind, f"reprokit.datagen.sources:{_class}")


def register_source(kind: str, source: type[DataSource] | str, *, replace: bool = False) -> None:
    """Make `data.source.kind: <kind>` use `source` (a `DataSource` subclass, or its
    `"module:attribute"` reference, imported when a config names `kind`)."""
    SOURCES.register(kind, source, replace=replace)


def registered_sources() -> list[str]:
    """Every `data.source.kind` available (registered in code or by an installed package)."""
    return SOURCES.kinds()


def parse_source(source: Mapping[str, Any]) -> DataSource:
    """The `data.source` mapping as its kind's `DataSource`, keys validated.

    Raises:
        SourceError: No `kind`, an unregistered kind (the registered ones are named), or
            keys that kind does not take or with wrong values (each named).
    """
    kind = source.get("kind")
    if not isinstance(kind, str):
        raise SourceError(
            f"{KEY}.kind is {kind!r}; expected the name of a registered source: "
            f"{registered_sources()}"
        )
    source_class = SOURCES.get(kind)
    try:
        return source_class.model_validate({k: v for k, v in source.items() if k != "kind"})
    except ValidationError as error:
        problems = "; ".join(_problem(kind, source_class, item) for item in error.errors())
        raise SourceError(f"{KEY} of kind {kind!r}: {problems}", _fault_keys(error)) from None


def _fault_keys(error: ValidationError) -> tuple[str, ...]:
    keys = [".".join([KEY, *(str(part) for part in item["loc"])]) for item in error.errors()]
    if any(item["type"] in {"extra_forbidden", "missing"} for item in error.errors()):
        keys.append(f"{KEY}.kind")  # the kind decides which keys are allowed
    return tuple(dict.fromkeys(keys))


def _problem(kind: str, source_class: type[DataSource], error: Any) -> str:
    key = ".".join([KEY, *(str(part) for part in error["loc"])])
    allowed = sorted(source_class.model_fields)
    if error["type"] == "extra_forbidden":
        return f"unknown key `{key}`; kind {kind!r} takes {allowed}"
    if error["type"] == "missing":
        return f"`{key}` is missing; kind {kind!r} takes {allowed}"
    return f"`{key}` = {error.get('input')!r}: {error['msg']}"
