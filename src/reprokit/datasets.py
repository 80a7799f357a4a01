"""Kedro datasets that write atomically (reprokit.core.fs) and read tables with the one
reader (reprokit.io.read_table) and the `data.read` options.

An interrupted write never leaves a file that DVC or Kedro would take as valid, and never
destroys the previous good file. Local filesystem only (what DVC tracks here).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NewType

import pandas as pd
from kedro.io import AbstractDataset

from reprokit.config.read import ReadOptions, as_read_options
from reprokit.core.fs import atomic_directory, atomic_path
from reprokit.errors import DataError
from reprokit.io import read_table

# The atomic writers stay importable from here (their home is reprokit.core.fs).
__all__ = [
    "FiguresDataset",
    "JSONDataset",
    "TableDataset",
    "TablesDataset",
    "TextDataset",
    "atomic_directory",
    "atomic_path",
    "strict_json",
    "table_read_options",
]


# kedro-viz shows a dataset's preview by the name of `preview()`'s return annotation (the
# types kedro-datasets defines): a table as `to_dict(orient="split")`, JSON as its text.
TablePreview = NewType("TablePreview", dict[str, Any])
JSONPreview = NewType("JSONPreview", str)
PREVIEW_ROWS = 5


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


def table_read_options(
    filepath: str, read: Mapping[str, Any] | None, load_args: Mapping[str, Any] | None
) -> ReadOptions:
    """A table dataset's read options (`read`: `data.read` as params hold it), refusing
    pandas `load_args` (config validation refuses them first, naming `data.read`)."""
    if load_args:
        raise DataError(
            f"dataset {filepath}: load_args {sorted(load_args)} are not supported; "
            "declare read options in data.read"
        )
    return as_read_options(dict(read) if read is not None else None)


class TableDataset(_FileDataset):
    """A DataFrame as Parquet or CSV, chosen by the file suffix, read with `read` (the
    `data.read` options, reprokit.io.read_table). pandas `load_args` are refused: a file
    read with arguments only this dataset knows would be read differently by `reprokit
    predict`, `monitor` and the service."""

    def __init__(
        self,
        filepath: str,
        read: Mapping[str, Any] | None = None,
        save_args: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        load_args: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath, save_args=save_args, metadata=metadata)
        self.read = table_read_options(filepath, read, load_args)

    def load(self) -> pd.DataFrame:
        return read_table(self.filepath, self.read)

    def preview(self, nrows: int = PREVIEW_ROWS) -> TablePreview:
        """The first rows, for kedro-viz's dataset panel (`kedro viz run --include-previews`):
        a Parquet file's first row group only, not the whole table."""
        if self.filepath.suffix == ".parquet":
            import pyarrow.parquet as pq

            batch = next(pq.ParquetFile(self.filepath).iter_batches(batch_size=nrows), None)
            head = batch.to_pandas() if batch is not None else pd.DataFrame()
        else:
            head = self.load().head(nrows)
        # JSON-safe cells (dates, categories, NaN) as kedro-datasets' own tables give them.
        return TablePreview(json.loads(head.to_json(orient="split", date_format="iso")))

    def save(self, data: pd.DataFrame) -> None:
        with atomic_path(self.filepath) as tmp:
            if self.filepath.suffix == ".parquet":
                data.to_parquet(tmp, index=False, **self.save_args)
            else:
                data.to_csv(tmp, index=False, **self.save_args)


def strict_json(data: Any, path: Path) -> str:
    """`data` as strict JSON (indented): NaN and +/-inf have no JSON spelling, and Python's
    `NaN`/`Infinity` extension breaks every other reader of the file."""
    try:
        return json.dumps(data, indent=2, allow_nan=False)
    except ValueError as error:
        raise DataError(
            f"{path}: cannot be written as JSON ({error}); a non-finite number (NaN, +inf, "
            "-inf) reached it"
        ) from None


class JSONDataset(_FileDataset):
    """A JSON document (fitted state, metrics), pretty-printed for diffs and `dvc metrics`."""

    def load(self) -> Any:
        self._require_file()
        return json.loads(self.filepath.read_text(encoding="utf-8"))

    def preview(self) -> JSONPreview:
        """The document, for kedro-viz's dataset panel."""
        self._require_file()
        return JSONPreview(self.filepath.read_text(encoding="utf-8"))

    def save(self, data: Any) -> None:
        with atomic_path(self.filepath) as tmp:
            tmp.write_text(strict_json(data, self.filepath) + "\n", encoding="utf-8")


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
