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

from reprokit.datasets import atomic_directory
from reprokit.errors import DataError

# A single-file table (the generator's raw file, a pandas engine output) is read as one
# partition per Parquet row group: the generator writes fixed 250,000-row groups.
DEFAULT_LOAD_ARGS: dict[str, Any] = {"split_row_groups": True}
DEFAULT_SAVE_ARGS: dict[str, Any] = {"write_index": False, "write_metadata_file": False}


class DaskTableDataset(ParquetDataset):  # type: ignore[misc]
    """A table on the Dask engine: Parquet (file or folder) or CSV in, Parquet folder out.

    `validation` holds the pandas engine's `SchemaValidator` options; a table that has them
    is validated partition by partition on load (see `validation.validate_frame`).
    """

    def __init__(
        self,
        *,
        filepath: str,
        load_args: Mapping[str, Any] | None = None,
        save_args: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        validation: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = Path(filepath)
        self.validation = dict(validation) if validation else None
        super().__init__(
            filepath=filepath,
            load_args={**DEFAULT_LOAD_ARGS, **dict(load_args or {})},
            save_args={**DEFAULT_SAVE_ARGS, **dict(save_args or {})},
            metadata=dict(metadata or {}),
        )

    def load(self) -> Any:
        import dask.dataframe as dd

        if not self.path.exists():
            raise DataError(f"file {self.path} does not exist")
        if self.path.suffix == ".csv":
            csv_args = {k: v for k, v in self._load_args.items() if k != "split_row_groups"}
            frame = dd.read_csv(self.path, **csv_args)
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
        from reprokit.engines.dask.validation import ValidatedFrame

        frame = data.frame if isinstance(data, ValidatedFrame) else data
        if self.path.suffix != ".parquet":
            raise DataError(
                f"{self.path}: the Dask engine writes tables as Parquet; declare a "
                "`.parquet` path for this dataset (or run it with engine=local)"
            )
        with atomic_directory(self.path) as tmp:
            frame.to_parquet(str(tmp), **self._save_args)

    def _exists(self) -> bool:
        return self.path.exists()
