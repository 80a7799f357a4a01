"""Kedro datasets that write atomically: a temp file in the same folder, then a rename.

An interrupted write never leaves a file that DVC or Kedro would take as valid, and never
destroys the previous good file. Local filesystem only (what DVC tracks here).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset

from reprokit.errors import DataError


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _swap_in(tmp: Path, final: Path) -> None:
    """Rename `tmp` onto `final`, each a file or a folder (the Dask engine writes tables as
    folders of Parquet parts). A file replaces a file in one atomic rename; a folder cannot
    be replaced so, so the old one is moved aside first and removed after."""
    if not tmp.is_dir() and not final.is_dir():
        tmp.replace(final)
        return
    old = final.with_name(f".{final.name}.old")
    _remove(old)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    _remove(old)


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temp path beside `final`; on success rename it onto `final`, else delete it."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _swap_in(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Like `atomic_path` for a folder: build it aside, then swap it in with renames (over
    a file or a folder)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        _swap_in(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _FileDataset(AbstractDataset[Any, Any]):
    """Shared plumbing: a local path, optional load/save args, Kedro metadata."""

    def __init__(
        self,
        filepath: str,
        load_args: Mapping[str, Any] | None = None,
        save_args: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.filepath = Path(filepath)
        self.load_args = dict(load_args or {})
        self.save_args = dict(save_args or {})
        self.metadata = dict(metadata or {})

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self.filepath)}

    def _exists(self) -> bool:
        return self.filepath.exists()

    def _require_file(self) -> None:
        if not self.filepath.exists():
            raise DataError(f"file {self.filepath} does not exist")


def _read_table(path: Path, load_args: Mapping[str, Any]) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path, **load_args)
    if path.stat().st_size == 0:
        raise DataError(f"file {path} is empty (0 bytes): expected a CSV header and rows")
    frame: pd.DataFrame = pd.read_csv(path, **load_args)
    return frame


class TableDataset(_FileDataset):
    """A DataFrame as Parquet or CSV, chosen by the file suffix."""

    def load(self) -> pd.DataFrame:
        self._require_file()
        try:
            return _read_table(self.filepath, self.load_args)
        except DataError:
            raise
        except Exception as error:  # pyarrow/pandas raise many types for a damaged file
            raise DataError(
                f"file {self.filepath} cannot be read as {self.filepath.suffix[1:]} "
                f"(truncated or not that format?): {type(error).__name__}: {error}"
            ) from error

    def save(self, data: pd.DataFrame) -> None:
        with atomic_path(self.filepath) as tmp:
            if self.filepath.suffix == ".parquet":
                data.to_parquet(tmp, index=False, **self.save_args)
            else:
                data.to_csv(tmp, index=False, **self.save_args)


class JSONDataset(_FileDataset):
    """A JSON document (fitted state, metrics), pretty-printed for diffs and `dvc metrics`."""

    def load(self) -> Any:
        self._require_file()
        return json.loads(self.filepath.read_text(encoding="utf-8"))

    def save(self, data: Any) -> None:
        with atomic_path(self.filepath) as tmp:
            tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


class TextDataset(_FileDataset):
    """Plain text, e.g. a LightGBM model in its native text format."""

    def load(self) -> str:
        self._require_file()
        return self.filepath.read_text(encoding="utf-8")

    def save(self, data: str) -> None:
        with atomic_path(self.filepath) as tmp:
            tmp.write_text(data, encoding="utf-8")


def _save_directory(
    final: Path, items: Mapping[str, Any], write: Callable[[Any, Path], None], suffix: str
) -> None:
    with atomic_directory(final) as tmp:
        for stem, item in sorted(items.items()):
            write(item, tmp / f"{stem}{suffix}")


class TablesDataset(_FileDataset):
    """A folder of CSV tables keyed by file stem (the data behind `dvc plots`)."""

    def load(self) -> dict[str, pd.DataFrame]:
        self._require_file()
        return {path.stem: pd.read_csv(path) for path in sorted(self.filepath.glob("*.csv"))}

    def save(self, data: Mapping[str, pd.DataFrame]) -> None:
        _save_directory(
            self.filepath, data, lambda frame, path: frame.to_csv(path, index=False), ".csv"
        )


class FiguresDataset(_FileDataset):
    """A folder of PNGs from matplotlib `Figure` objects keyed by file stem."""

    def load(self) -> dict[str, Path]:
        self._require_file()
        return {path.stem: path for path in sorted(self.filepath.glob("*.png"))}

    def save(self, data: Mapping[str, Any]) -> None:
        dpi = int(self.save_args.get("dpi", 110))
        _save_directory(
            self.filepath,
            data,
            lambda figure, path: figure.savefig(path, dpi=dpi, format="png"),
            ".png",
        )
