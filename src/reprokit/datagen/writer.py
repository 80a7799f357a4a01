"""Bounded-memory, atomic, deterministic writing of tables that arrive in chunks.

A table is written to a hidden temporary file next to its destination and moved into place with
`os.replace` only once it is complete, so readers (and DVC) only ever see either the previous
good file or the new complete one.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import secrets
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol, TextIO

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from reprokit.datagen.credit import empty_credit_frame, iter_credit_blocks

logger = logging.getLogger(__name__)

SUFFIXES = (".parquet", ".csv")
# Row groups have a fixed size whatever the chunking of the input, so that the same rows always
# give the same bytes; the buffer needed for that bounds memory together with the chunk size.
PARQUET_ROW_GROUP_ROWS = 250_000
# Every option that affects the bytes is pinned here rather than left to pyarrow's defaults,
# which may change between versions. Nothing written depends on the clock or the host.
PARQUET_OPTIONS: dict[str, object] = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
    "write_page_index": False,
    "write_page_checksum": False,
}
LOG_STEPS = 10  # log a line every 1/LOG_STEPS of the expected rows
LOG_EVERY_CHUNKS_WITHOUT_TOTAL = 10


class _Progress(Protocol):
    def advance(self, rows: int) -> None: ...


class _LogProgress:
    """Progress for non-interactive runs (CI, DVC): a log line every ~10% of the rows."""

    def __init__(self, description: str, total_rows: int | None) -> None:
        self._description = description
        self._total = total_rows
        self._done = 0
        self._chunks = 0
        self._next_step = 1

    def advance(self, rows: int) -> None:
        self._done += rows
        self._chunks += 1
        if self._total is None or self._total <= 0:
            if self._chunks % LOG_EVERY_CHUNKS_WITHOUT_TOTAL == 0:
                logger.info("%s: %s rows", self._description, f"{self._done:,}")
            return
        step = min(self._done * LOG_STEPS // self._total, LOG_STEPS)
        if step < self._next_step:
            return
        logger.info(
            "%s: %s/%s rows (%d%%)",
            self._description,
            f"{self._done:,}",
            f"{self._total:,}",
            100 * step // LOG_STEPS,
        )
        # One big chunk that passes several milestones logs one line, not several.
        self._next_step = step + 1


class _RichProgress:
    def __init__(self, progress: Progress, description: str, total_rows: int | None) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=total_rows)

    def advance(self, rows: int) -> None:
        self._progress.advance(self._task, rows)


def _stderr_is_tty() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def _progress(description: str, total_rows: int | None) -> Iterator[_Progress]:
    if not _stderr_is_tty():
        yield _LogProgress(description, total_rows)
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        yield _RichProgress(progress, description, total_rows)


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"cannot write {path}: the suffix must be one of {SUFFIXES}")
    return suffix


def _temp_path(path: Path) -> Path:
    # Hidden and ".tmp" so no glob for "*.parquet" picks it up; random so that concurrent writers
    # of the same destination never share a temp file. Same directory so os.replace is atomic.
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def _fsync(path: Path) -> None:
    """Flush a file (or directory) to disk, so a crash cannot leave a renamed but empty file."""
    if path.is_dir() and not hasattr(os, "O_DIRECTORY"):
        return  # directories cannot be opened for fsync on this platform (Windows)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _checked_chunks(chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Yield the chunks, failing if there are none or if their columns differ."""
    columns: list[str] | None = None
    for number, chunk in enumerate(chunks):
        chunk_columns = [str(name) for name in chunk.columns]
        if columns is None:
            columns = chunk_columns
        elif chunk_columns != columns:
            raise ValueError(
                f"chunk {number} has columns {chunk_columns}, expected {columns} (as chunk 0)"
            )
        yield chunk
    if columns is None:
        raise ValueError("no chunks to write: the table needs at least one (possibly empty) chunk")


def _write_parquet(target: Path, chunks: Iterable[pd.DataFrame], progress: _Progress) -> int:
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    pending: list[pa.Table] = []
    pending_rows = 0
    rows = 0
    try:
        for chunk in chunks:
            if schema is None:
                # Without the index: a RangeIndex would put per-chunk start/stop into the
                # metadata, and the row order is the only index a table file needs.
                schema = pa.Schema.from_pandas(chunk, preserve_index=False)
                writer = pq.ParquetWriter(target, schema, **PARQUET_OPTIONS)
            pending.append(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))
            pending_rows += len(chunk)
            while pending_rows >= PARQUET_ROW_GROUP_ROWS:
                combined = pa.concat_tables(pending)
                _write_row_group(writer, combined.slice(0, PARQUET_ROW_GROUP_ROWS))
                pending = [combined.slice(PARQUET_ROW_GROUP_ROWS)]
                pending_rows -= PARQUET_ROW_GROUP_ROWS
            rows += len(chunk)
            progress.advance(len(chunk))
        if pending_rows:
            _write_row_group(writer, pa.concat_tables(pending))
    finally:
        if writer is not None:
            writer.close()
    return rows


def _write_row_group(writer: pq.ParquetWriter | None, table: pa.Table) -> None:
    assert writer is not None  # the writer exists once a chunk has been seen
    # One contiguous array per column: the bytes must not depend on how the rows were chunked.
    writer.write_table(table.combine_chunks(), row_group_size=PARQUET_ROW_GROUP_ROWS)


def _iso_seconds(name: object, column: pd.Series) -> npt.NDArray[np.str_]:
    """Format naive timestamps as ISO 8601 text, refusing any that would lose precision.

    numpy formats ~20x faster than pandas' per-value strftime, which dominated CSV writing.
    """
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            f"column {name!r} is timezone-aware; convert it to naive UTC before writing CSV"
        )
    values = column.to_numpy()
    seconds = values.astype("datetime64[s]")
    missing = np.isnat(values)
    if ((seconds != values) & ~missing).any():
        raise ValueError(
            f"column {name!r} has sub-second timestamps, which CSV is written without; "
            "write Parquet instead"
        )
    text: npt.NDArray[np.str_] = np.datetime_as_string(seconds, unit="s")
    text[missing] = ""  # an empty field, like every other missing value
    return text


def _csv_ready(chunk: pd.DataFrame) -> pd.DataFrame:
    """The chunk with its timestamp columns as text in one fixed ISO format.

    A fixed format, because pandas' default drops the time of day in chunks that happen to
    hold only midnights, so one file would mix two formats.
    """
    ready = chunk.copy(deep=False)  # copy-on-write: the caller's frame is never modified
    for position, name in enumerate(chunk.columns):
        column = chunk.iloc[:, position]
        if isinstance(column.dtype, pd.DatetimeTZDtype) or column.dtype.kind == "M":
            ready.isetitem(position, _iso_seconds(name, column))
    return ready


def _write_csv(target: Path, chunks: Iterable[pd.DataFrame], progress: _Progress) -> int:
    rows = 0
    handle: TextIO
    with target.open("x", encoding="utf-8", newline="") as handle:
        for number, chunk in enumerate(chunks):
            _csv_ready(chunk).to_csv(
                handle,
                index=False,
                header=number == 0,
                lineterminator="\n",
            )
            rows += len(chunk)
            progress.advance(len(chunk))
    return rows


def write_table(
    path: Path,
    chunks: Iterable[pd.DataFrame],
    *,
    total_rows: int | None = None,
    description: str = "Writing table",
) -> int:
    """Write chunks of one table to a Parquet or CSV file, atomically.

    The file is built in a hidden ``.<name>.<random>.tmp`` file in the destination's directory
    and renamed onto ``path`` only when complete; on any error (including Ctrl-C) the temporary
    file is removed, a previous file at ``path`` is left untouched, and the error re-raised.

    Args:
        path: Destination; ``.parquet`` or ``.csv``. Parent directories are created.
        chunks: DataFrames with identical columns, written in order; only one is held at a time
            (plus up to one Parquet row group).
        total_rows: Expected number of rows, used only to report progress.
        description: Label of the progress bar / log lines.

    Returns:
        The number of rows written.

    Raises:
        ValueError: Unsupported suffix, no chunks, chunks with differing columns, or timestamps
            that CSV would truncate.
    """
    suffix = _check_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_path(path)
    try:
        with _progress(description, total_rows) as progress:
            write = _write_parquet if suffix == ".parquet" else _write_csv
            rows = write(temp, _checked_chunks(chunks), progress)
        _fsync(temp)
        temp.replace(path)  # atomic on POSIX and Windows (os.replace)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    # Best effort: some file systems refuse to fsync a directory; the data itself is synced.
    with contextlib.suppress(OSError):
        _fsync(path.parent)
    logger.info("%s: wrote %s rows to %s", description, f"{rows:,}", path)
    return rows


def rechunk(frames: Iterable[pd.DataFrame], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Regroup a stream of frames into frames of exactly ``chunk_rows`` rows (the last: fewer)."""
    if chunk_rows <= 0:
        raise ValueError(f"chunk_rows must be > 0, got {chunk_rows}")
    return _rechunk(frames, chunk_rows)


def _rechunk(frames: Iterable[pd.DataFrame], chunk_rows: int) -> Iterator[pd.DataFrame]:
    pending: list[pd.DataFrame] = []
    pending_rows = 0
    for frame in frames:
        pending.append(frame)
        pending_rows += len(frame)
        while pending_rows >= chunk_rows:
            combined = pending[0] if len(pending) == 1 else pd.concat(pending)
            yield combined.iloc[:chunk_rows]
            rest = combined.iloc[chunk_rows:]
            pending = [rest] if len(rest) else []
            pending_rows = len(rest)
    if pending_rows:
        yield pending[0] if len(pending) == 1 else pd.concat(pending)


def credit_chunks(rows: int, seed: int, chunk_rows: int = 250_000) -> Iterator[pd.DataFrame]:
    """Yield the synthetic credit table (``generate_credit(rows, seed)``) in chunks.

    Memory is bounded by ``chunk_rows`` plus one generation block, so tables far larger than
    memory can be written. A zero-row table is yielded as one empty chunk, so that a writer can
    still write the schema. Arguments are checked here, not when the first chunk is requested.
    """
    for name, value in {"rows": rows, "seed": seed}.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if chunk_rows <= 0:
        raise ValueError(f"chunk_rows must be > 0, got {chunk_rows}")
    if rows == 0:
        return iter([empty_credit_frame()])
    return rechunk(iter_credit_blocks(0, rows, seed), chunk_rows)


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle), [])


def count_rows(path: Path) -> int:
    """Number of data rows of a Parquet file (from its footer) or a CSV file (after the header).

    CSV records are counted by a real CSV parser, so quoted fields holding newlines count once.
    """
    suffix = _check_suffix(path)
    if suffix == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    header = _csv_header(path)
    if not header:
        return 0
    # Only the first column is converted, as text, so no type inference can fail on later rows.
    options = pa_csv.ConvertOptions(
        include_columns=[header[0]], column_types={header[0]: pa.string()}
    )
    with pa_csv.open_csv(path, convert_options=options) as reader:
        return sum(batch.num_rows for batch in reader)
