"""How to read a CSV file, found from its bytes: encoding, delimiter, decimal mark, dates.

Pure functions on bytes, text and frames; `reprokit.scaffold.project` reads the file.
"""

from __future__ import annotations

import codecs
import csv
import re
import warnings
from collections.abc import Iterable

import pandas as pd

# Public since pandas 2.2; pandas-stubs 2.3 does not declare it yet.
from pandas.tseries.api import guess_datetime_format  # type: ignore[attr-defined]

UTF8_BOM = codecs.BOM_UTF8
# Tried in this order: strict UTF-8 first (most files), latin-1 last (it decodes any bytes).
DELIMITERS = ",;\t|"
# A field like `1,5` or `-12,75`: a number written with a decimal comma.
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")


def detect_encoding(chunks: Iterable[bytes]) -> str:
    """`utf-8-sig` (a UTF-8 byte-order mark), `utf-8` when every byte decodes, else `latin-1`.

    `chunks` is the whole file, in pieces: a byte that is not UTF-8 may sit on its last line."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    first = True
    try:
        for chunk in chunks:
            if first and chunk.startswith(UTF8_BOM):
                encoding = "utf-8-sig"
            elif first:
                encoding = "utf-8"
            first = False
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8" if first else encoding


def detect_delimiter(sample: str) -> str:
    """The field separator csv.Sniffer finds in `sample` (the file's first lines); `,` when
    it finds none (a one-column file)."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def detect_decimal(sample: str, delimiter: str) -> str:
    """`,` when the file is `;`-separated and holds numbers like `1,5` (the European
    dialect); else `.`. A `,`-separated file cannot use a decimal comma unquoted."""
    if delimiter != ";":
        return "."
    lines = sample.splitlines()[1:]
    fields = (field for line in lines for field in line.split(delimiter))
    return "," if any(_DECIMAL_COMMA.match(field) for field in fields) else "."


def date_format(values: pd.Series) -> str | None:
    """The strftime format every non-null text value of `values` parses with, or None (not
    dates). Month-first is tried before day-first; a value like 13/04 settles it."""
    present = values.dropna()
    if present.empty or not (pd.api.types.is_string_dtype(present) or present.dtype == object):
        return None
    first = str(present.iloc[0])
    with warnings.catch_warnings():
        # pandas warns that a day-first format was guessed without dayfirst=True: we check it.
        warnings.simplefilter("ignore", UserWarning)
        candidates = [guess_datetime_format(first, dayfirst=day) for day in (False, True)]
    for candidate in dict.fromkeys(candidates):
        if candidate is None:
            continue
        parsed = pd.to_datetime(present.astype(str), format=candidate, errors="coerce")
        if not parsed.isna().any():
            return str(candidate)
    return None


def date_formats(frame: pd.DataFrame) -> dict[str, str]:
    """{column: format} for the text columns of `frame` that are all dates."""
    found = {str(name): date_format(frame[name]) for name in frame.columns}
    return {name: found_format for name, found_format in found.items() if found_format}
