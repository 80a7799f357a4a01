"""Read-option detection on generated file contents: encoding, delimiter, decimal and
thousands marks, dates, whitespace, boolean spellings."""

from __future__ import annotations

import pandas as pd
import pytest

from reprokit.scaffold.detect import (
    boolean_spellings,
    date_format,
    date_formats,
    detect_decimal,
    detect_delimiter,
    detect_encoding,
    detect_number_marks,
    padded_header,
    padded_values,
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


@pytest.mark.parametrize(
    ("sample", "delimiter", "expected"),
    [
        ("a;b\n1.234,56;x\n7,5;y\n", ";", (",", ".")),
        ("a;b\n1.234.567;x\n", ";", (",", ".")),
        ('a,b\n"1,234.56",x\n7.5,y\n', ",", (".", ",")),
        ("a\tb\n1,234,567\tx\n", "\t", (".", ",")),
        # A lone `1.234` may be a decimal point; `1,5` in a `;` file is a decimal comma.
        ("a;b\n1.234;x\n", ";", (".", None)),
        ("a;b\n1,5;x\n", ";", (",", None)),
        # A decimal comma inside a comma-separated file cannot be read: not proposed.
        ('a,b\n"1.234,5",x\n', ",", (".", None)),
    ],
)
def test_thousands_separators_are_found_with_the_decimal_mark(
    sample: str, delimiter: str, expected: tuple[str, str | None]
) -> None:
    assert detect_number_marks(sample, delimiter) == expected


def test_whitespace_around_names_and_values_is_found() -> None:
    frame = pd.DataFrame({" plan": ["basic ", "pro"], "n": [1, 2], "ok": ["a", None]})
    assert padded_header(frame.columns) == [" plan"]
    assert padded_values(frame) == {" plan": "basic "}
    assert padded_values(pd.DataFrame({"plan": ["basic", "pro"]})) == {}


def test_boolean_spellings_of_complete_two_valued_columns() -> None:
    frame = pd.DataFrame(
        {
            "member": ["ja", "nein", "Ja"],
            "vip": ["Y", " n", "Y"],
            "fr": ["oui", "non", "non"],
            "tf": ["T", "F", "T"],
            "maybe": ["yes", "no", "maybe"],
            "only_yes": ["yes", "yes", "yes"],
            "gaps": ["yes", None, "no"],
            "sex": ["f", "m", "f"],
        }
    )
    assert boolean_spellings(frame) == {
        "member": (["Ja", "ja"], ["nein"]),
        "vip": (["Y"], ["n"]),
        "fr": (["oui"], ["non"]),
        "tf": (["T"], ["F"]),
    }
