"""Atomic writes end with the permissions a plain write would have had, not mkstemp's 0600."""

from __future__ import annotations

import os
from pathlib import Path

from reprokit.core.fs import atomic_directory, atomic_path


def test_a_file_and_a_folder_get_the_umask_mode(tmp_path: Path) -> None:
    mask = os.umask(0)
    os.umask(mask)
    with atomic_path(tmp_path / "report.html") as tmp:
        tmp.write_text("<html></html>")
    with atomic_directory(tmp_path / "table.parquet") as folder:
        (folder / "part.0.parquet").write_bytes(b"x")
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "table.parquet").stat().st_mode & 0o777 == 0o777 & ~mask
    assert 0o666 & ~mask != 0o600  # the test means something under the suite's umask
