"""Tables as partitioned Parquet through Kedro's Dask `ParquetDataset`, written atomically.

A table dataset keeps its catalog name and path; on the Dask engine the path holds a folder
of Parquet parts (`part.N.parquet`), which pandas, pyarrow and DVC read as one table. A
save builds the folder beside its destination and swaps it in with renames, so a failed
or killed run never leaves a partial table that looks valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro_datasets.dask import ParquetDataset

from reprokit.datasets import atomic_directory, table_read_options
from reprokit.errors import DataError
from reprokit.io import read_table

# A single-file table (the generator's raw file, a pandas engine output) is read as one
# partition per Parquet row group: the generator writes fixed 250,000-row groups.
DEFAULT_LOAD_ARGS: dict[str, Any] = {"split_row_groups": True}
# Rows per partition of a table the one reader read whole (a CSV file): the generator's row
# group size, so such a table is split as its Parquet form would be.
READ_PARTITION_ROWS = 250_000
DEFAULT_SAVE_ARGS: dict[str, Any] = {"write_index": False, "write_metadata_file": False}


class DaskTableDataset(ParquetDataset):  # type: ignore[misc]
    """A table on the Dask engine: Parquet (file or folder) or CSV in, Parquet folder out.

    `validation` holds the pandas engine's `SchemaValidator` options; a table that has them
    is validated partition by partition on load (see `validation.validate_frame`). `read`
    holds the `data.read` options: a CSV file, or a Parquet file read with options that
    change it, is read by the one reader (reprokit.io.read_table) and then partitioned, so
    both engines read a file the same way.
    """

    def __init__(
        self,
        *,
        filepath: str,
        load_args: Mapping[str, Any] | None = None,
        save_args: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        validation: Mapping[str, Any] | None = None,
        read: Mapping[str, Any] | None = None,
    ) -> None:
        self.read = table_read_options(filepath, read, load_args)
        self.path = Path(filepath)
        self.validation = dict(validation) if validation else None
        super().__init__(
            filepath=filepath,
            load_args=dict(DEFAULT_LOAD_ARGS),
            save_args={**DEFAULT_SAVE_ARGS, **dict(save_args or {})},
            metadata=dict(metadata or {}),
        )

    def load(self) -> Any:
        import dask.dataframe as dd

        if not self.path.exists():
            raise DataError(f"file {self.path} does not exist")
        if self.path.suffix == ".csv" or (self.path.is_file() and not self.read.is_default):
            table = read_table(self.path, self.read)
            partitions = max(1, -(-len(table) // READ_PARTITION_ROWS))
            frame = dd.from_pandas(table, npartitions=partitions, sort=False)  # type: ignore[no-untyped-call]
        else:
            try:
                frame = super().load()
            except Exception as error:  # pyarrow/fsspec raise many types for a bad file
                raise DataError(
                    f"file {self.path} cannot be read as Parquet (truncated or not that "
                    f"format?): {type(error).__name__}: {error}"
                ) from error
        if self.validation is None:
            return frame
        from reprokit.engines.dask.validation import validate_frame

        return validate_frame(frame, **self.validation)

    def save(self, data: Any) -> None:
        import dask.dataframe as dd
        import pandas as pd

        from reprokit.engines.dask.validation import ValidatedFrame

        frame = data.frame if isinstance(data, ValidatedFrame) else data
        if isinstance(frame, pd.DataFrame):
            # A pandas result (a sampled node's, say reference_sample) is written as a
            # one-part folder like every other table of this engine.
            frame = dd.from_pandas(frame, npartitions=1, sort=False)  # type: ignore[no-untyped-call]
        if self.path.suffix != ".parquet":
            raise DataError(
                f"{self.path}: the Dask engine writes tables as Parquet; declare a "
                "`.parquet` path for this dataset (or run it with engine=local)"
            )
        with atomic_directory(self.path) as tmp:
            frame.to_parquet(str(tmp), **self._save_args)

    def _exists(self) -> bool:
        return self.path.exists()
