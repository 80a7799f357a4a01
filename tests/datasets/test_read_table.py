"""The one reader (reprokit.io.read_table) on generated messy files: each read option does
what it says, and each unreadable file is a `TableReadError` naming the file (and the option
that would fix it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from reprokit.config.read import ReadOptions
from reprokit.io import TableReadError, read_table
from reprokit.io.read import MAX_HEADER_BYTES


def write(tmp_path: Path, content: bytes | str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def test_latin1_file_names_the_file_and_the_option_then_reads_with_it(tmp_path: Path) -> None:
    path = write(tmp_path, "name,city\nJörg,Köln\n".encode("latin-1"))
    with pytest.raises(TableReadError, match=r"data\.csv is not utf-8 text.*0xf6") as error:
        read_table(path)
    assert "set data.read.encoding: latin-1" in str(error.value)
    frame = read_table(path, {"encoding": "latin-1"})
    assert frame.to_dict("records") == [{"name": "Jörg", "city": "Köln"}]


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbfid,value\r\n1,2\r\n3,4\r\n")  # BOM and CRLF
    frame = read_table(path)
    assert list(frame.columns) == ["id", "value"]
    assert frame["value"].tolist() == [2, 4]


def test_semicolon_decimal_comma_and_thousands(tmp_path: Path) -> None:
    path = write(tmp_path, "id;amount\n1;1.234,5\n2;7,25\n")
    options = {"delimiter": ";", "decimal": ",", "thousands": "."}
    assert read_table(path, options)["amount"].tolist() == [1234.5, 7.25]


def test_declared_boolean_spellings_and_missing_markers(tmp_path: Path) -> None:
    path = write(tmp_path, "member,score\nyes,1\nno,-\nyes,NA\n")
    options = {"true_values": ["yes"], "false_values": ["no"], "na_values": ["-"]}
    frame = read_table(path, options)
    assert frame["member"].tolist() == [True, False, True]
    # Only the declared marker is missing: "NA" is a value once na_values is given.
    assert frame["score"].isna().tolist() == [False, True, False]
    assert frame["score"].iloc[2] == "NA"


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("03/04/2024", {"dayfirst": True}, "2024-04-03"),
        ("03/04/2024", {}, "2024-03-04"),
        ("03.04.2024", {"date_format": "%d.%m.%Y"}, "2024-04-03"),
    ],
)
def test_date_formats_and_dayfirst(
    tmp_path: Path, text: str, options: dict[str, Any], expected: str
) -> None:
    path = write(tmp_path, f"id,day\n1,{text}\n")
    frame = read_table(path, {"date_columns": ["day"], **options})
    assert frame["day"].iloc[0] == pd.Timestamp(expected)


def test_thousands_separator_does_not_eat_date_dots(tmp_path: Path) -> None:
    path = write(tmp_path, "id; Tag ;amount\n1;15.10.2023;1.234,5\n")
    options = {"delimiter": ";", "decimal": ",", "thousands": ".", "strip_header": True}
    options |= {"rename": {"Tag": "day"}, "date_columns": ["day"], "date_format": "%d.%m.%Y"}
    frame = read_table(path, options)
    assert frame["day"].iloc[0] == pd.Timestamp("2023-10-15")
    assert frame["amount"].iloc[0] == 1234.5


def test_a_value_not_in_the_date_format_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "id,day\n1,03.04.2024\n2,soon\n")
    with pytest.raises(TableReadError, match=r"column 'day'.*\['soon'\].*data\.read\.date_format"):
        read_table(path, {"date_columns": ["day"], "date_format": "%d.%m.%Y"})


def test_whitespace_in_header_and_values_and_case(tmp_path: Path) -> None:
    path = write(tmp_path, " plan , price\nBasic ,1\n basic,2\nPRO,3\n")
    assert list(read_table(path).columns) == [" plan ", " price"]
    options = {"strip_header": True, "strip_values": True, "lowercase_values": True}
    frame = read_table(path, options)
    assert list(frame.columns) == ["plan", "price"]
    assert frame["plan"].tolist() == ["basic", "basic", "pro"]


def test_column_renames(tmp_path: Path) -> None:
    path = write(tmp_path, "Kunde,Betrag\n1,2\n")
    frame = read_table(path, {"rename": {"Kunde": "customer", "Betrag": "amount"}})
    assert list(frame.columns) == ["customer", "amount"]
    with pytest.raises(TableReadError, match=r"rename names columns \['Kund'\]"):
        read_table(path, {"rename": {"Kund": "customer"}})


def test_duplicate_header_names_are_reported_as_duplicates(tmp_path: Path) -> None:
    path = write(tmp_path, "id,age,age\n1,2,3\n")
    with pytest.raises(TableReadError, match=r"duplicate column names: 'age' \(columns 2, 3\)"):
        read_table(path)
    stripped = write(tmp_path, "id,age,age \n1,2,3\n", "stripped.csv")
    read_table(stripped)  # distinct as written
    with pytest.raises(TableReadError, match=r"stripped\.csv has duplicate column names: 'age'"):
        read_table(stripped, {"strip_header": True})


def test_duplicate_parquet_columns_are_reported(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "dup.parquet"
    pq.write_table(pa.table([[1], [2]], names=["a", "a"]), path)
    with pytest.raises(TableReadError, match=r"dup\.parquet has duplicate column names: 'a'"):
        read_table(path)


@pytest.mark.parametrize(
    "content",
    [
        "id,value\n1,2\n3,4,5\n",  # one row too long
        "id,value\n1,2,3\n4,5,6\n",  # every row too long: pandas would shift them silently
    ],
)
def test_ragged_rows_name_the_file_and_the_dialect_options(tmp_path: Path, content: str) -> None:
    with pytest.raises(TableReadError, match=r"data\.csv.*data\.read\.delimiter"):
        read_table(write(tmp_path, content))


def test_a_huge_single_line_is_a_clean_error(tmp_path: Path) -> None:
    path = write(tmp_path, "a," * (MAX_HEADER_BYTES // 2 + 10))
    with pytest.raises(TableReadError, match=r"data\.csv: no line break in its first 1 MiB"):
        read_table(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [("t.parquet", b"PAR1\x00\x01truncated"), ("t.parquet", b"id,value\n1,2\n")],
)
def test_truncated_or_misnamed_parquet_names_the_file(
    tmp_path: Path, name: str, content: bytes
) -> None:
    with pytest.raises(TableReadError, match=r"t\.parquet cannot be read as Parquet"):
        read_table(write(tmp_path, content, name))


def test_default_options_return_a_parquet_table_unchanged(tmp_path: Path) -> None:
    frame = pd.DataFrame({" a ": [1.5, None], "b": ["x ", "Y"]})
    path = tmp_path / "t.parquet"
    frame.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(read_table(path), pd.read_parquet(path))


def test_a_folder_of_parquet_parts_is_one_table(tmp_path: Path) -> None:
    """What the Dask engine writes (`part.N.parquet` files in a `.parquet` folder)."""
    path = tmp_path / "t.parquet"
    path.mkdir()
    pd.DataFrame({"a": [1, 2]}).to_parquet(path / "part.0.parquet", index=False)
    pd.DataFrame({"a": [3]}).to_parquet(path / "part.1.parquet", index=False)
    assert read_table(path)["a"].tolist() == [1, 2, 3]


def test_an_empty_or_missing_path_is_not_a_table(tmp_path: Path) -> None:
    with pytest.raises(TableReadError, match="does not exist"):
        read_table(tmp_path / "missing.parquet")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"encodng": "latin-1"}, "encodng"),
        ({"encoding": "klingon"}, "not a known codec"),
        ({"delimiter": ";;"}, "one character"),
        ({"delimiter": ",", "decimal": ","}, "must be different characters"),
        ({"true_values": ["y"], "false_values": ["y"]}, "in both true_values and false_values"),
    ],
)
def test_read_options_are_validated(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReadOptions.model_validate(options)


MESSY = "Kunde;Betrag\n1;1.234,5\n2;7,25\n".encode("latin-1")
MESSY_OPTIONS = {
    "encoding": "latin-1",
    "delimiter": ";",
    "decimal": ",",
    "thousands": ".",
    "rename": {"Kunde": "customer_id", "Betrag": "amount"},
}


def test_monitor_reads_a_batch_with_the_read_options(tmp_path: Path) -> None:
    from reprokit.monitoring.cli import MonitorInputError, read_current

    path = write(tmp_path, MESSY)
    frame = read_current(path, ReadOptions.model_validate(MESSY_OPTIONS))
    assert frame.to_dict("list") == {"customer_id": [1, 2], "amount": [1234.5, 7.25]}
    # With the defaults, `1.234,5` splits a row at the comma: an input error (exit 2).
    with pytest.raises(MonitorInputError, match=r"data\.csv: its rows have more fields"):
        read_current(path)


def test_dask_engine_reads_a_csv_with_the_read_options(tmp_path: Path) -> None:
    from reprokit.engines.dask.datasets import DaskTableDataset

    path = write(tmp_path, MESSY)
    table = DaskTableDataset(filepath=str(path), read=MESSY_OPTIONS).load().compute()
    pd.testing.assert_frame_equal(table.reset_index(drop=True), read_table(path, MESSY_OPTIONS))


def test_text_clean_up_leaves_other_cells_of_a_mixed_column_alone(tmp_path: Path) -> None:
    from reprokit.io.read import clean_frame

    mixed = pd.DataFrame({"v": pd.Series([" A ", 1, None], dtype=object)})
    read = ReadOptions(strip_values=True, lowercase_values=True)
    assert clean_frame(mixed, read, tmp_path / "t.csv")["v"].tolist() == ["a", 1, None]
