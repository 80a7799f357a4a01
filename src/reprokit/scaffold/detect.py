"""How to read a CSV file, found from its bytes: encoding, delimiter, decimal mark and
thousands separator, dates, surrounding whitespace and boolean spellings.

Pure functions on bytes, text and frames; `reprokit.scaffold.project` reads the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import warnings
from collections.abc import Iterable, Iterator

import pandas as pd

# Public since pandas 2.2; pandas-stubs 2.3 does not declare it yet.
from pandas.tseries.api import guess_datetime_format  # type: ignore[attr-defined]

UTF8_BOM = codecs.BOM_UTF8
# Tried in this order: strict UTF-8 first (most files), latin-1 last (it decodes any bytes).
DELIMITERS = ",;\t|"
# A field like `1,5` or `-12,75`: a number written with a decimal comma.
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")
# Grouped digits with both marks (`1.234,56`, `1,234.56`) or two groups (`1.234.567`) can
# only be a thousands separator; a lone `1.234` could be a decimal point and is not taken.
_GROUPED = {
    (",", "."): re.compile(r"^\s*[-+]?\d{1,3}(?:\.\d{3})+(?:,\d+|(?<=\d{3}\.\d{3}))\s*$"),
    (".", ","): re.compile(r"^\s*[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+|(?<=\d{3},\d{3}))\s*$"),
}
# Spellings of booleans (compared lowercased): English, German, French, Spanish/Italian.
TRUE_WORDS = frozenset({"yes", "y", "true", "t", "ja", "j", "oui", "si", "sí", "wahr", "vrai"})
FALSE_WORDS = frozenset({"no", "n", "false", "f", "nein", "non", "falsch", "faux"})


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


def _fields(sample: str, delimiter: str) -> Iterator[str]:
    """The sample's fields below the header, quotes removed (`"1,234.5"` is one field)."""
    rows = csv.reader(io.StringIO(sample), delimiter=delimiter)
    next(rows, None)
    for row in rows:
        yield from row


def detect_number_marks(sample: str, delimiter: str) -> tuple[str, str | None]:
    """(decimal, thousands): numbers grouped in thousands settle both (`1.234,56` gives
    `,` and `.`; `1,234.56` gives `.` and `,`); else `detect_decimal` and no separator.
    A decimal mark equal to the delimiter cannot be read, so it is never proposed."""
    fields = list(_fields(sample, delimiter))
    for (decimal, thousands), pattern in _GROUPED.items():
        if decimal != delimiter and any(pattern.match(field) for field in fields):
            return decimal, thousands
    return detect_decimal(sample, delimiter), None


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


def _texts(frame: pd.DataFrame) -> Iterator[tuple[str, pd.Series]]:
    """The text columns of `frame` with their non-missing string values."""
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            present = values.dropna()
            yield str(name), present[present.map(lambda value: isinstance(value, str))]


def padded_header(columns: Iterable[object]) -> list[str]:
    """The column names with whitespace around them (`strip_header` removes it)."""
    return [str(name) for name in columns if str(name) != str(name).strip()]


def padded_values(frame: pd.DataFrame) -> dict[str, str]:
    """{column: first value} for text columns holding a value with whitespace around it
    (`strip_values` removes it; `'basic '` and `'basic'` would be two categories)."""
    found: dict[str, str] = {}
    for name, values in _texts(frame):
        padded = values[values != values.str.strip()]
        if not padded.empty:
            found[name] = str(padded.iloc[0])
    return found


def boolean_spellings(frame: pd.DataFrame) -> dict[str, tuple[list[str], list[str]]]:
    """{column: (true spellings, false spellings)} for the complete text columns whose
    values (stripped) are all spellings of both booleans (`yes`/`no`, `J`/`N`, `oui`/`non`).
    The spellings are kept as written: pandas matches `true_values` exactly."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for name, values in _texts(frame):
        if values.empty or len(values) != len(frame):
            continue  # a missing value: the column would not be a plain bool one
        spelled = sorted({str(value).strip() for value in values})
        trues = [word for word in spelled if word.lower() in TRUE_WORDS]
        falses = [word for word in spelled if word.lower() in FALSE_WORDS]
        if trues and falses and len(trues) + len(falses) == len(spelled):
            found[name] = (trues, falses)
    return found
