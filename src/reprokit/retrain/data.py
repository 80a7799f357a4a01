"""The batch and the raw data it joins: read and checked as the pipeline reads and checks its
raw data, written atomically with the previous file kept, and tracked with `dvc add`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprokit.core.env import dvc_command
from reprokit.core.fs import atomic_path
from reprokit.errors import DataError, ReprokitError

if TYPE_CHECKING:
    import pandas as pd

    from reprokit.config.compose import Workspace

BACKUP_DIR = ".reprokit/retrain"


class RetrainError(ReprokitError):
    """The retraining loop cannot run or its pipeline failed; names the file, key or run."""


class RetrainInputError(DataError):
    """The new batch cannot be used: exit 2, as `reprokit monitor` exits for a bad batch."""

    exit_code = 2


def raw_path(workspace: Workspace) -> Path:
    """`data.path`, which must hold data the user provides (`data.source.kind: file`): a
    file a DVC stage generates would be generated again by `dvc repro`, dropping the batch.

    Raises:
        RetrainError: The source generates the data, or the file is not Parquet.
    """
    from reprokit.config.sources import parse_source

    data = workspace.config.data
    source = parse_source(data.source.model_dump())
    if source.writes:
        raise RetrainError(
            f"data.source.kind is {data.source.kind!r}: the `data` stage generates {data.path}, "
            "so `dvc repro` would overwrite the new rows; retrain needs data you provide: set "
            "`source: {kind: file}` in the data config, track the file with "
            f"`dvc add {data.path}` and `make generate`"
        )
    path = workspace.root / data.path
    if path.suffix != ".parquet":
        raise RetrainError(
            f"data.path {data.path} is not Parquet: retrain writes the combined raw data as "
            "Parquet (a CSV written back would not keep its data.read options); convert it "
            "and point data.path at the .parquet file"
        )
    return path


def _validator(workspace: Workspace, dataset: str) -> Any:
    from reprokit.schemas import SchemaValidator

    # The raw params, as the catalog's `raw` validator receives them.
    data = workspace.params["data"]
    return SchemaValidator(
        dataset=dataset, schema=data["schema"], target=data["target"], task=data["task"]
    )


def read_checked(workspace: Workspace, path: Path, dataset: str) -> pd.DataFrame:
    """`path` read with `data.read` (the pipeline's reader) and validated with the raw
    dataset's schema; a bad batch names the file, column and rule.

    Raises:
        RetrainInputError: Missing or unreadable file, or schema violations.
    """
    from reprokit.io import read_table

    try:
        frame = read_table(path, workspace.config.data.read)
    except DataError as error:
        raise RetrainInputError(str(error)) from None
    return _validated(workspace, frame, dataset)


def check_combined(workspace: Workspace, frame: pd.DataFrame, dataset: str) -> None:
    """The raw data after the batch still meets the schema (an appended batch can repeat a
    `unique` id)."""
    _validated(workspace, frame, dataset)


def _validated(workspace: Workspace, frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """`frame` as the raw dataset's validator returns it; a violation is a bad batch."""
    try:
        return _validator(workspace, dataset).validate(frame)  # type: ignore[no-any-return]
    except DataError as error:
        raise RetrainInputError(str(error)) from None


@dataclass(frozen=True)
class Backup:
    """The raw file and its DVC pointer as they were before the retrain wrote them."""

    raw: Path
    saved: Path | None
    pointer: Path
    saved_pointer: Path | None


def back_up(root: Path, raw: Path, stamp: str) -> Backup:
    """Copies of the raw file and its `.dvc` file under `.reprokit/retrain/<stamp>/`, kept
    after the retrain so the previous data stays recoverable by hand too."""
    folder = root / BACKUP_DIR / stamp
    folder.mkdir(parents=True, exist_ok=True)
    pointer = raw.with_name(raw.name + ".dvc")
    saved: dict[Path, Path | None] = {}
    for original in (raw, pointer):
        if original.is_file():
            copy = folder / original.name
            shutil.copy2(original, copy)
            saved[original] = copy
        else:
            saved[original] = None
    return Backup(raw, saved[raw], pointer, saved[pointer])


def restore(backup: Backup) -> None:
    """Put the raw file and its pointer back as they were (atomically, each)."""
    for original, saved in ((backup.raw, backup.saved), (backup.pointer, backup.saved_pointer)):
        if saved is None:
            original.unlink(missing_ok=True)
            continue
        with atomic_path(original) as tmp:
            shutil.copy2(saved, tmp)


def write_raw(path: Path, frame: pd.DataFrame) -> None:
    """The combined raw data, written to a temporary file and renamed into place."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def dvc(root: Path, *args: str, capture: bool = True) -> subprocess.CompletedProcess[str]:
    """This environment's DVC (`dvc_command`), run without the project lock held: DVC and
    the stages take their own locks. Uncaptured, its output goes to the user as it comes (a
    `dvc repro` takes minutes), on stderr: stdout is the command's own (`--json`)."""
    command = dvc_command(*args)
    if capture:
        return subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    return subprocess.run(command, cwd=root, stdout=sys.stderr, text=True, check=False)
