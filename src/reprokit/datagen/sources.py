"""The single entry point that makes a declared data source exist as a file (used by the CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reprokit.datagen.bundled import load_bundled
from reprokit.datagen.writer import count_rows, credit_chunks, write_table

# Keys each source kind takes, besides "kind" itself.
SOURCE_KEYS: dict[str, frozenset[str]] = {
    "synthetic_credit": frozenset({"rows", "seed"}),
    "bundled": frozenset({"name"}),
    "file": frozenset(),
}


def _check_keys(source: Mapping[str, Any]) -> str:
    """The source's kind, once its keys are exactly those that kind takes."""
    kinds = sorted(SOURCE_KEYS)
    if "kind" not in source:
        raise ValueError(f"source has no 'kind' key; expected one of {kinds}")
    kind = source["kind"]
    if not isinstance(kind, str) or kind not in SOURCE_KEYS:
        raise ValueError(f"source.kind is {kind!r}; expected one of {kinds}")
    expected = SOURCE_KEYS[kind]
    keys = {str(key) for key in source} - {"kind"}
    if missing := sorted(expected - keys):
        raise ValueError(
            f"source of kind {kind!r} is missing key {missing[0]!r} (needs {sorted(expected)})"
        )
    if extra := sorted(keys - expected):
        raise ValueError(
            f"source of kind {kind!r} has unexpected key {extra[0]!r} (takes {sorted(expected)})"
        )
    return kind


def _int(source: Mapping[str, Any], key: str, minimum: int) -> int:
    value = source[key]
    # bool is an int subclass, but `rows: true` is a config mistake, not 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"source.{key} must be an integer >= {minimum}, got {value!r}")
    return value


def materialize(source: Mapping[str, Any], path: Path) -> int:
    """Make the data of ``source`` available at ``path`` and return its number of rows.

    ``synthetic_credit`` and ``bundled`` sources are (re)written atomically; a ``file`` source is
    the user's own file (tracked with ``dvc add``) and is only checked, never written.

    Raises:
        ValueError: Unknown kind, missing or unexpected keys, or invalid values.
        FileNotFoundError: A ``file`` source whose file does not exist.
    """
    kind = _check_keys(source)
    if kind == "synthetic_credit":
        rows = _int(source, "rows", minimum=1)
        seed = _int(source, "seed", minimum=0)
        chunks = credit_chunks(rows, seed)
        return write_table(path, chunks, total_rows=rows, description=f"credit {path.name}")
    if kind == "bundled":
        table = load_bundled(str(source["name"]))
        description = f"bundled {path.name}"
        return write_table(path, [table], total_rows=len(table), description=description)
    if not path.is_file():
        raise FileNotFoundError(
            f"data file {path} does not exist: put your table there and track it with "
            f"`dvc add {path}` (or `dvc pull` if it is already tracked)"
        )
    return count_rows(path)
