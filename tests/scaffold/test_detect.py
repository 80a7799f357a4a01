"""Read-option detection on generated file contents: encoding, delimiter, decimal, dates."""

from __future__ import annotations

import pandas as pd
import pytest

from reprokit.scaffold.detect import (
    date_format,
    date_formats,
    detect_decimal,
    detect_delimiter,
    detect_encoding,
)

EUROPEAN = "Kunde;Größe;Preis\n1;1,5;2,25\n2;2,5;3,75\n3;3,0;4,5\n"


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"a,b\n", b"1,2\n"], "utf-8"),
        ([b"\xef\xbb\xbfa,b\n", b"1,2\n"], "utf-8-sig"),
        # The one non-UTF-8 byte is in the last chunk: the whole file is decoded.
        ([b"a,b\n" * 1000, "ö,1\n".encode("latin-1")], "latin-1"),
        # A multi-byte character split across two chunks is still UTF-8.
        (["aö".encode()[:2], "aö".encode()[2:]], "utf-8"),
        ([], "utf-8"),
    ],
)
def test_encoding_is_found_by_decoding_the_whole_file(chunks: list[bytes], expected: str) -> None:
    assert detect_encoding(chunks) == expected


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("a,b,c\n1.5,2,x\n2.5,3,y\n", ","),
        (EUROPEAN, ";"),
        ("a\tb\n1\t2\n3\t4\n", "\t"),
        ("a|b\n1|2\n3|4\n", "|"),
        ("only\n1\n2\n", ","),
    ],
)
def test_delimiter_is_sniffed(sample: str, expected: str) -> None:
    assert detect_delimiter(sample) == expected


def test_decimal_comma_only_in_a_semicolon_file_with_comma_numbers() -> None:
    assert detect_decimal(EUROPEAN, ";") == ","
    assert detect_decimal("a;b\n1;x\n2;y\n", ";") == "."
    assert detect_decimal("a;b\n1.5;x\n", ";") == "."
    assert detect_decimal('a,b\n"1,5",x\n', ",") == "."


def test_date_formats_of_text_columns_that_all_parse() -> None:
    frame = pd.DataFrame(
        {
            "german": ["15.10.2023", "01.02.2024", None],
            "iso": ["2023-10-15", "2024-02-01", "2024-02-02"],
            # 13/04 only parses day-first: month-first is tried, then rejected.
            "dayfirst": ["03/04/2024", "13/04/2024", "01/01/2024"],
            "words": ["basic", "premium", "basic"],
            "numbers": [1, 2, 3],
            "half": ["2023-10-15", "soon", "2023-10-16"],
        }
    )
    assert date_formats(frame) == {
        "german": "%d.%m.%Y",
        "iso": "%Y-%m-%d",
        "dayfirst": "%d/%m/%Y",
    }
    assert date_format(pd.Series([None, None], dtype=object)) is None
