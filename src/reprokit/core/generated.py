"""Files generated from the config and committed (ops/, feature_repo/): written atomically,
and checked the way dvc.yaml is (a file that differs from what the config generates is
stale)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reprokit.core.fs import atomic_path


def write_files(root: Path, files: Mapping[Path, str]) -> list[Path]:
    """Write each (project-relative path -> text); the paths written."""
    for relative, text in files.items():
        with atomic_path(root / relative) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return list(files)


def stale_files(root: Path, files: Mapping[Path, str]) -> list[str]:
    """The paths that are missing or whose text differs."""
    return [
        str(relative)
        for relative, text in files.items()
        if not (root / relative).is_file() or (root / relative).read_text(encoding="utf-8") != text
    ]
