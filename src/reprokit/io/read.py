"""The one reader of user tables (CSV or Parquet) with the `data.read` options.

Every entry point reads a raw or incoming table through `read_table`: the catalog's table
datasets (DVC stages, `reprokit run`), the Dask engine, `reprokit predict`, `reprokit
monitor` and the node cache, whose keys hash the same options. A file that cannot be read
raises `TableReadError`, naming the file and, where one would fix it, the option to set.
Only pandas and pyarrow: the serving runtime imports this module.
"""

from __future__ import annotations

import codecs
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pandas as pd

from reprokit.config.read import KEY, ReadOptions, as_read_options
from reprokit.errors import DataError

SUFFIXES = (".csv", ".parquet")
# A CSV whose first MAX_HEADER_BYTES hold no line break is one huge line (a wrong line
# terminator, or not a CSV at all): pandas would read it as a header of thousands of columns
# and zero rows, and Python's csv module fails with "field larger than field limit".
MAX_HEADER_BYTES = 1 << 20
MAX_EXAMPLES = 5


class TableReadError(DataError):
    """A table file cannot be read as declared: names the file and the option to set."""


def read_table(path: Path, options: ReadOptions | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The table at `path` (`.csv` or `.parquet`) read with `options` (`data.read`).

    Raises:
        TableReadError: The file is missing, empty, damaged, not decodable with the declared
            encoding, ragged, has duplicate column names, or a declared option does not fit it.
    """
    read = as_read_options(dict(options) if isinstance(options, Mapping) else options)
    _check_file(path)
    frame = _read_parquet(path) if path.suffix == ".parquet" else _read_csv(path, read)
    return clean_frame(frame, read, path)


def _check_file(path: Path) -> None:
    if path.suffix not in SUFFIXES:
        raise TableReadError(f"file {path}: expected a {' or '.join(SUFFIXES)} file")
    # A Parquet table may be a folder of parts (the Dask engine writes those).
    if not (path.is_file() or (path.suffix == ".parquet" and path.is_dir())):
        raise TableReadError(f"file {path} does not exist")


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path) if path.is_file() else pq.ParquetDataset(path).schema
        _reject_duplicates(schema.names, path)
        frame: pd.DataFrame = pd.read_parquet(path)
        return frame
    except TableReadError:
        raise
    except Exception as error:  # pyarrow raises many types for a damaged file
        raise TableReadError(
            f"file {path} cannot be read as Parquet (truncated, or not a Parquet file despite "
            f"its name?): {type(error).__name__}: {error}"
        ) from None


def _codec(encoding: str) -> str:
    """`utf-8` reads a file with a byte-order mark too (the mark is not part of the header)."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def csv_arguments(read: ReadOptions) -> dict[str, Any]:
    """pandas `read_csv` arguments for the options (the CSV dialect and spellings)."""
    na_values = None if read.na_values is None else [*read.na_values, ""]
    return {
        "sep": read.delimiter,
        "decimal": read.decimal,
        "thousands": read.thousands,
        "quotechar": read.quotechar,
        "encoding": _codec(read.encoding),
        "true_values": read.true_values or None,
        "false_values": read.false_values or None,
        "na_values": na_values,
        "keep_default_na": read.na_values is None,
        "engine": "c",
    }


def _read_csv(path: Path, read: ReadOptions) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise TableReadError(f"file {path} is empty (0 bytes): expected a CSV header and rows")
    _check_first_line(path)
    arguments = csv_arguments(read)
    with _parsing(path, read):
        # The header as written: pandas would rename a repeated name to `name.1`, and the
        # schema would then report a missing and an unexpected column instead.
        header = pd.read_csv(
            path,
            header=None,
            nrows=1,
            dtype=str,
            **{**arguments, "na_values": None, "keep_default_na": False},
        )
        names = [str(name) for name in header.iloc[0].tolist()]
        # Date columns stay text until parsed with the date options: pandas' number
        # inference would read 15.10.2023 as 15102023 with `thousands: "."`.
        as_text: dict[Hashable, Any] = {
            name: str for name in names if final_name(name, read) in read.date_columns
        }
        # A cast: with the options spread from a dict, pandas-stubs cannot tell that no
        # `chunksize`/`iterator` is among them (they never are).
        frame = cast(
            "pd.DataFrame", pd.read_csv(path, header=0, dtype=as_text or None, **arguments)
        )
    if not frame.index.equals(pd.RangeIndex(len(frame))):
        # pandas takes a first column as the index when rows have one field more than the
        # header: every value would silently move one column.
        raise TableReadError(
            f"file {path}: its rows have more fields than its header ({len(header.columns)} "
            f"columns); check {KEY}.delimiter ({read.delimiter!r}) and {KEY}.quotechar"
        )
    frame.columns = pd.Index(names)
    return frame


def final_name(name: str, read: ReadOptions) -> str:
    """A column's name once the header is stripped and renamed as the options say."""
    stripped = name.strip() if read.strip_header else name
    return read.rename.get(stripped, stripped)


def _check_first_line(path: Path) -> None:
    with path.open("rb") as handle:
        start = handle.read(MAX_HEADER_BYTES + 1)
    if len(start) > MAX_HEADER_BYTES and b"\n" not in start and b"\r" not in start:
        raise TableReadError(
            f"file {path}: no line break in its first {MAX_HEADER_BYTES // (1 << 20)} MiB, so "
            "it is one huge line, not a CSV table of one row per line (wrong line endings, or "
            "not a CSV file?)"
        )


@contextmanager
def _parsing(path: Path, read: ReadOptions) -> Iterator[None]:
    """pandas' and the codecs' errors as one message naming the file and the option."""
    try:
        yield
    except UnicodeDecodeError as error:
        byte = error.object[error.start : error.start + 1].hex()
        raise TableReadError(
            f"file {path} is not {read.encoding} text (byte 0x{byte} at position "
            f"{error.start}): set {KEY}.encoding: latin-1 (or the file's encoding, e.g. cp1252)"
        ) from None
    except pd.errors.EmptyDataError:
        raise TableReadError(f"file {path} has no header (blank): expected a CSV header") from None
    except pd.errors.ParserError as error:
        raise TableReadError(
            f"file {path} cannot be parsed as CSV: {str(error).strip()}; a row with more "
            f"fields than the header? check {KEY}.delimiter ({read.delimiter!r}) and "
            f"{KEY}.quotechar ({read.quotechar!r})"
        ) from None
    except (ValueError, OverflowError) as error:
        raise TableReadError(
            f"file {path} cannot be read as CSV: {type(error).__name__}: {error}"
        ) from None


def clean_frame(frame: pd.DataFrame, read: ReadOptions, path: Path) -> pd.DataFrame:
    """The options that apply to any format: header whitespace, duplicates, renames, text
    values, dates. With the defaults the frame comes back unchanged."""
    if read.strip_header:
        frame.columns = pd.Index([str(name).strip() for name in frame.columns])
    _reject_duplicates(list(frame.columns), path)
    if read.rename:
        frame = _renamed(frame, read.rename, path)
    if read.strip_values or read.lowercase_values:
        frame = _clean_text(frame, read)
    for column in read.date_columns:
        frame[column] = _parse_dates(frame, column, read, path)
    return frame


def duplicate_names(names: Sequence[Any]) -> dict[str, list[int]]:
    """Names that occur more than once -> their 1-based positions."""
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(names, start=1):
        positions.setdefault(str(name), []).append(position)
    return {name: where for name, where in positions.items() if len(where) > 1}


def _reject_duplicates(names: Sequence[Any], path: Path) -> None:
    duplicates = duplicate_names(names)
    if duplicates:
        listed = "; ".join(
            f"{name!r} (columns {', '.join(map(str, where))})" for name, where in duplicates.items()
        )
        raise TableReadError(
            f"file {path} has duplicate column names: {listed}; rename them in the file "
            f"(a table needs one column per name)"
        )


def _renamed(frame: pd.DataFrame, rename: Mapping[str, str], path: Path) -> pd.DataFrame:
    missing = sorted(set(rename) - {str(name) for name in frame.columns})
    if missing:
        raise TableReadError(
            f"{KEY}.rename names columns {missing} that file {path} does not have "
            f"(its columns: {[str(name) for name in frame.columns]})"
        )
    renamed = frame.rename(columns=dict(rename))
    _reject_duplicates(list(renamed.columns), path)
    return renamed


def normalise_text(value: Any, read: ReadOptions) -> Any:
    """One text value cleaned as the options say; other values as they are."""
    if not isinstance(value, str):
        return value
    text = value.strip() if read.strip_values else value
    return text.lower() if read.lowercase_values else text


def _clean_text(frame: pd.DataFrame, read: ReadOptions) -> pd.DataFrame:
    cleaned = frame.copy()
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_object_dtype(values):  # mixed cells: only the strings change
            cleaned[column] = as_booleans(
                values.map(lambda value: normalise_text(value, read)), read
            )
        elif pd.api.types.is_string_dtype(values):
            text = values.str.strip() if read.strip_values else values
            cleaned[column] = text.str.lower() if read.lowercase_values else text
    return cleaned


def as_booleans(values: pd.Series, read: ReadOptions) -> pd.Series:
    """A text column whose values are all declared spellings, as booleans. pandas matches
    `true_values` before the values are cleaned: `' yes'` is only a spelling once stripped."""
    spellings = {**dict.fromkeys(read.true_values, True), **dict.fromkeys(read.false_values, False)}
    present = values.dropna()
    if not spellings or present.empty or values.isna().any():
        return values
    if not all(isinstance(value, str) and value in spellings for value in present):
        return values
    return values.map(spellings).astype(bool)


def check_booleans(
    frame: pd.DataFrame,
    columns: Iterable[str],
    options: ReadOptions | Mapping[str, Any] | None,
    path: Path,
) -> None:
    """Columns the model knows as booleans must read as booleans here too: pandas leaves a
    column holding one undeclared spelling (`maybe` among `yes`/`no`) as text, which a
    model input check would only report as "not a bool" on every row.

    Raises:
        TableReadError: Names the file, the column, the values that are no declared
            spelling and the options to declare them in.
    """
    read = as_read_options(dict(options) if isinstance(options, Mapping) else options)
    declared = {*read.true_values, *read.false_values}
    for column in columns:
        if column not in frame.columns or pd.api.types.is_bool_dtype(frame[column]):
            continue
        present = frame[column].dropna().drop_duplicates()
        bad = [value for value in present if not isinstance(value, bool) and value not in declared]
        if bad:
            raise TableReadError(
                f"file {path}: column {column!r} holds booleans for the model, but here also "
                f"{sorted(map(str, bad))[:MAX_EXAMPLES]}; declare the spellings in "
                f"{KEY}.true_values / {KEY}.false_values (now {read.true_values} / "
                f"{read.false_values}) or fix the file"
            )


def _parse_dates(frame: pd.DataFrame, column: str, read: ReadOptions, path: Path) -> pd.Series:
    if column not in frame.columns:
        raise TableReadError(
            f"{KEY}.date_columns names {column!r}, which file {path} does not have "
            f"(its columns: {[str(name) for name in frame.columns]})"
        )
    values = frame[column]
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    date_format = read.format_of(column)
    try:
        parsed: pd.Series = pd.to_datetime(values, format=date_format, dayfirst=read.dayfirst)
        return parsed
    except (ValueError, TypeError):
        parsed = pd.to_datetime(values, errors="coerce", format=date_format, dayfirst=read.dayfirst)
        bad = values[parsed.isna() & values.notna()].drop_duplicates().head(MAX_EXAMPLES)
        # A mapping names the column's own entry: the fix is that one format.
        option = f"{KEY}.date_format" + (f".{column}" if isinstance(read.date_format, dict) else "")
        raise TableReadError(
            f"file {path}: column {column!r} has values that are not dates in format "
            f"{date_format or '(inferred)'}: {bad.tolist()}; set {option} "
            f"(strftime codes, e.g. '%d.%m.%Y') and {KEY}.dayfirst"
        ) from None
