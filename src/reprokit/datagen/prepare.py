"""Materialise a config's raw data source for in-process runs, only when it changed.

DVC's `data` stage decides this for `dvc repro`; `reprokit run` needs the same answer
without DVC: a marker beside the project remembers which source params wrote the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reprokit.datagen.sources import materialize

MARKER_DIR = ".reprokit/sources"


def _marker(root: Path, data_path: str) -> Path:
    return root / MARKER_DIR / (data_path.replace("/", "__") + ".json")


def ensure_source(source: Mapping[str, Any], data_path: str, root: Path) -> bool:
    """Write the raw file unless it exists and was written from these same source params.
    A user's own file (`kind: file`) is only checked. Returns whether it was written."""
    path = root / data_path
    if source.get("kind") == "file":
        materialize(source, path)
        return False
    marker = _marker(root, data_path)
    wanted = json.dumps(dict(source), sort_keys=True)
    if path.is_file() and marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
        return False
    materialize(source, path)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(wanted, encoding="utf-8")
    return True
