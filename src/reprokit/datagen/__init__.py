"""Data sources of the demo: a deterministic synthetic credit table, bundled real datasets, and
an atomic chunked writer that turns either into a file."""

from __future__ import annotations

from reprokit.datagen.bundled import BUNDLED_NAMES, load_bundled
from reprokit.datagen.credit import generate_credit, generate_credit_chunk
from reprokit.datagen.sources import materialize
from reprokit.datagen.writer import count_rows, credit_chunks, write_table

__all__ = [
    "BUNDLED_NAMES",
    "count_rows",
    "credit_chunks",
    "generate_credit",
    "generate_credit_chunk",
    "load_bundled",
    "materialize",
    "write_table",
]
