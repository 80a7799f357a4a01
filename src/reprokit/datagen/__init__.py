"""Data sources: a deterministic synthetic credit table, bundled real datasets, the user's own
file, any kind a package registers (`register_source`), and an atomic chunked writer.

The generators and the writer (pandas, pyarrow, rich) load on first use of their names:
validating a config imports this package for its source classes only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reprokit.config.sources import DataSource, register_source, registered_sources

if TYPE_CHECKING:
    from reprokit.datagen.bundled import BUNDLED_NAMES, load_bundled
    from reprokit.datagen.credit import generate_credit, generate_credit_chunk
    from reprokit.datagen.sources import materialize
    from reprokit.datagen.writer import count_rows, credit_chunks, write_table

# Each lazily loaded name -> the module that defines it.
_LAZY = {
    "BUNDLED_NAMES": "reprokit.datagen.bundled",
    "load_bundled": "reprokit.datagen.bundled",
    "generate_credit": "reprokit.datagen.credit",
    "generate_credit_chunk": "reprokit.datagen.credit",
    "materialize": "reprokit.datagen.sources",
    "count_rows": "reprokit.datagen.writer",
    "credit_chunks": "reprokit.datagen.writer",
    "write_table": "reprokit.datagen.writer",
}

__all__ = [
    "BUNDLED_NAMES",
    "DataSource",
    "count_rows",
    "credit_chunks",
    "generate_credit",
    "generate_credit_chunk",
    "load_bundled",
    "materialize",
    "register_source",
    "registered_sources",
    "write_table",
]


def __getattr__(name: str) -> Any:
    """PEP 562: a lazily loaded name, imported from its module on first access."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
