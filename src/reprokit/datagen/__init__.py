"""Data sources: a deterministic synthetic credit table, bundled real datasets, the user's own
file, any kind a package registers (`register_source`), and an atomic chunked writer."""

from __future__ import annotations

from reprokit.config.sources import DataSource, register_source, registered_sources
from reprokit.datagen.bundled import BUNDLED_NAMES, load_bundled
from reprokit.datagen.credit import generate_credit, generate_credit_chunk
from reprokit.datagen.sources import materialize
from reprokit.datagen.writer import count_rows, credit_chunks, write_table

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
