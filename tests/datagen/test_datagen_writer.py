"""The chunked writer: atomicity, deterministic Parquet bytes, CSV round trip, progress."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from tests.support import file_sha256

from reprokit.datagen import writer
from reprokit.datagen.credit import generate_credit
from reprokit.datagen.writer import count_rows, credit_chunks, rechunk, write_table

ROWS = 3_000


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return generate_credit(ROWS, 7)


def _chunks(frame: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    return [frame.iloc[start : start + size] for start in range(0, len(frame), size)]


def _leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if ".tmp" in path.name)


class BoomError(RuntimeError):
    pass


def _failing(frame: pd.DataFrame, after: int) -> Iterator[pd.DataFrame]:
    """Yield `after` chunks of the frame, then fail like a crashing generator would."""
    yield from _chunks(frame, 500)[:after]
    raise BoomError("generator failed midway")


def test_parquet_round_trip(tmp_path: Path, credit: pd.DataFrame) -> None:
    path = tmp_path / "credit.parquet"
    assert write_table(path, _chunks(credit, 700), total_rows=ROWS) == ROWS
    pd.testing.assert_frame_equal(pd.read_parquet(path), credit)
    assert count_rows(path) == ROWS


def test_parquet_bytes_are_deterministic(tmp_path: Path, credit: pd.DataFrame) -> None:
    first, second, rechunked = (tmp_path / f"{name}.parquet" for name in ("a", "b", "c"))
    write_table(first, _chunks(credit, 1_000))
    write_table(second, _chunks(credit, 1_000))
    # Different chunking, same rows: row groups are fixed-size, so the bytes are the same too.
    write_table(rechunked, _chunks(credit, 333))
    assert file_sha256(first) == file_sha256(second) == file_sha256(rechunked)


def test_parquet_row_groups_have_a_fixed_size(
    tmp_path: Path, credit: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    monkeypatch.setattr(writer, "PARQUET_ROW_GROUP_ROWS", 1_000)
    path = tmp_path / "credit.parquet"
    write_table(path, _chunks(credit, 700))
    metadata = pq.ParquetFile(path).metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert sizes == [1_000, 1_000, 1_000]
    pd.testing.assert_frame_equal(pd.read_parquet(path), credit)


def test_csv_round_trip(tmp_path: Path, credit: pd.DataFrame) -> None:
    path = tmp_path / "credit.csv"
    assert write_table(path, _chunks(credit, 700)) == ROWS
    text = path.read_text(encoding="utf-8")
    assert text.count("customer_id") == 1  # the header, once
    assert text.splitlines()[1].split(",")[1] == "2023-01-01T00:00:00"  # ISO timestamp
    back = pd.read_csv(path, parse_dates=["application_date"])
    back["application_date"] = back["application_date"].astype("datetime64[ns]")
    pd.testing.assert_frame_equal(back, credit)
    assert count_rows(path) == ROWS


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_failure_midway_leaves_no_file(tmp_path: Path, credit: pd.DataFrame, suffix: str) -> None:
    path = tmp_path / f"credit{suffix}"
    with pytest.raises(BoomError):
        write_table(path, _failing(credit, after=3))
    assert not path.exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("error", [BoomError, KeyboardInterrupt])
def test_failure_midway_keeps_the_previous_good_file(
    tmp_path: Path, credit: pd.DataFrame, suffix: str, error: type[BaseException]
) -> None:
    path = tmp_path / f"credit{suffix}"
    write_table(path, [credit.iloc[:100]])
    before = file_sha256(path)

    def interrupted() -> Iterator[pd.DataFrame]:
        yield credit.iloc[:500]
        raise error("interrupted")

    with pytest.raises(error):
        write_table(path, interrupted())
    assert file_sha256(path) == before
    assert _leftovers(tmp_path) == []


def test_writes_to_a_hidden_temp_file_first(tmp_path: Path, credit: pd.DataFrame) -> None:
    path = tmp_path / "credit.parquet"
    seen: list[list[str]] = []

    def observed() -> Iterator[pd.DataFrame]:
        yield credit.iloc[:500]
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        yield credit.iloc[500:]

    write_table(path, observed())
    (names,) = seen
    assert len(names) == 1
    assert names[0].startswith(".credit.parquet.")
    assert ".tmp" in names[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["credit.parquet"]


def test_creates_parent_directories(tmp_path: Path, credit: pd.DataFrame) -> None:
    path = tmp_path / "data" / "01_raw" / "credit.parquet"
    write_table(path, [credit])
    assert path.is_file()


def test_unsupported_suffix_is_rejected_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.json"):
        write_table(tmp_path / "sub" / "table.json", [pd.DataFrame({"a": [1]})])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_chunks_with_different_columns_are_rejected(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    chunks = [pd.DataFrame({"a": [1], "b": [2]}), pd.DataFrame({"b": [3], "a": [4]})]
    with pytest.raises(ValueError, match="chunk 1"):
        write_table(path, chunks)
    assert list(tmp_path.iterdir()) == []


def test_no_chunks_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no chunks"):
        write_table(tmp_path / "t.parquet", [])
    assert list(tmp_path.iterdir()) == []


def test_empty_table_writes_its_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    assert write_table(path, credit_chunks(0, 7)) == 0
    back = pd.read_parquet(path)
    assert len(back) == 0
    assert back.columns.tolist() == generate_credit(0, 7).columns.tolist()
    assert str(back["application_date"].dtype) == "datetime64[ns]"


def test_csv_refuses_to_truncate_timestamps(tmp_path: Path) -> None:
    precise = pd.DataFrame({"t": pd.to_datetime(["2023-01-01T00:00:00.5"])})
    with pytest.raises(ValueError, match="sub-second"):
        write_table(tmp_path / "t.csv", [precise])
    aware = pd.DataFrame({"t": pd.to_datetime(["2023-01-01"]).tz_localize("UTC")})
    with pytest.raises(ValueError, match="timezone"):
        write_table(tmp_path / "t.csv", [aware])
    assert list(tmp_path.iterdir()) == []


def test_csv_missing_timestamps_are_empty_fields(tmp_path: Path) -> None:
    stamps = pd.Series([pd.Timestamp("2023-01-02T03:04:05"), pd.NaT], dtype="datetime64[ns]")
    frame = pd.DataFrame({"t": stamps, "x": [1, 2]})
    path = tmp_path / "t.csv"
    write_table(path, [frame])
    assert path.read_text(encoding="utf-8") == "t,x\n2023-01-02T03:04:05,1\n,2\n"


def test_logs_progress_every_tenth(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"a": range(100)})
    with caplog.at_level(logging.INFO, logger=writer.__name__):
        write_table(tmp_path / "t.parquet", _chunks(frame, 5), total_rows=100, description="x")
    progress = [r.getMessage() for r in caplog.records if "%)" in r.getMessage()]
    assert progress == [f"x: {n}/100 rows ({n}%)" for n in range(10, 101, 10)]
    assert "wrote 100 rows" in caplog.records[-1].getMessage()


def test_big_chunk_logs_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"a": range(100)})
    with caplog.at_level(logging.INFO, logger=writer.__name__):
        write_table(tmp_path / "t.csv", [frame.iloc[:5], frame.iloc[5:]], total_rows=100)
    progress = [r.getMessage() for r in caplog.records if "%)" in r.getMessage()]
    assert progress == ["Writing table: 100/100 rows (100%)"]


def test_rich_progress_when_stderr_is_a_tty(
    tmp_path: Path, credit: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "_stderr_is_tty", lambda: True)
    path = tmp_path / "credit.parquet"
    assert write_table(path, _chunks(credit, 1_000), total_rows=ROWS, description="bar") == ROWS
    pd.testing.assert_frame_equal(pd.read_parquet(path), credit)


def test_count_rows_counts_csv_records_not_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('a,b\n1,"two\nlines"\n2,x\n', encoding="utf-8")
    assert count_rows(path) == 2


def test_rechunk_regroups_exactly() -> None:
    frames = [pd.DataFrame({"a": range(start, start + 7)}) for start in range(0, 21, 7)]
    chunks = list(rechunk(frames, 5))
    assert [len(chunk) for chunk in chunks] == [5, 5, 5, 5, 1]
    assert pd.concat(chunks)["a"].tolist() == list(range(21))
    with pytest.raises(ValueError, match="chunk_rows"):
        rechunk(frames, 0)
