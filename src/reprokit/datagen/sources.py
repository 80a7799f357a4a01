"""The built-in data sources (registered in reprokit.config.sources) and the single entry
point that makes a declared source exist as a file (used by the CLI and the runs).

`synthetic_credit` and `bundled` sources are (re)written atomically; a `file` source is the
user's own file (tracked with `dvc add`) and is only checked, never written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from reprokit.config.sources import DataSource, parse_source

# The writers (pandas, pyarrow, rich) are imported where a source materializes: validating
# a config resolves its source class here, and must not pay for them.


class SyntheticCreditSource(DataSource):
    """`kind: synthetic_credit`: the deterministic synthetic credit table."""

    # Strict: `rows: true` or `rows: "10"` is a config mistake, not 1 or 10.
    rows: int = Field(gt=0, strict=True)
    seed: int = Field(ge=0, strict=True)

    def materialize(self, path: Path) -> int:
        from reprokit.datagen.writer import credit_chunks, write_table

        chunks = credit_chunks(self.rows, self.seed)
        return write_table(path, chunks, total_rows=self.rows, description=f"credit {path.name}")


class BundledSource(DataSource):
    """`kind: bundled`: a real dataset shipped with scikit-learn."""

    name: Literal["breast_cancer", "diabetes", "wine"]

    def materialize(self, path: Path) -> int:
        from reprokit.datagen.bundled import load_bundled
        from reprokit.datagen.writer import write_table

        table = load_bundled(self.name)
        description = f"bundled {path.name}"
        return write_table(path, [table], total_rows=len(table), description=description)


class FileSource(DataSource):
    """`kind: file`: the user's own file, added with `dvc add`; reprokit only reads it."""

    writes: ClassVar[bool] = False

    def check(self, path: Path) -> None:
        """The file exists; the run reads it with `data.read` (reprokit.io.read_table), so
        no other reader with other options parses it first."""
        if not path.is_file():
            raise FileNotFoundError(
                f"data file {path} does not exist: put your table there and track it with "
                f"`dvc add {path}` (or `dvc pull` if it is already tracked)"
            )

    def materialize(self, path: Path) -> int:
        from reprokit.datagen.writer import count_rows

        self.check(path)
        return count_rows(path)


def materialize(source: Mapping[str, Any], path: Path) -> int:
    """Make the data of `source` (a `data.source` mapping) available at `path` and return
    its number of rows.

    Raises:
        SourceError: (a ValueError) Unknown kind, missing or unexpected keys, bad values.
        ValueError, OSError: The source cannot produce its data (e.g. a `file` source whose
            file does not exist).
    """
    return parse_source(source).materialize(path)
