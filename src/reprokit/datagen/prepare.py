"""Materialise a config's raw data source for in-process runs, only when it changed.

DVC's `data` stage decides this for `dvc repro`; `reprokit run` needs the same answer
without DVC: a marker beside the project remembers which source params wrote the file and
the content hash (md5, as DVC records it) of what they wrote. The marker is trusted only
while the file still has that content: after `dvc checkout`, a copy or an edit, the file is
another one, and the source is written again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reprokit.config.sources import parse_source
from reprokit.core.content.files import file_md5
from reprokit.datagen.sources import materialize
from reprokit.datasets import atomic_path

MARKER_DIR = ".reprokit/sources"


def marker_path(root: Path, data_path: str) -> Path:
    return root / MARKER_DIR / (data_path.replace("/", "__") + ".json")


def marker_text(source: Mapping[str, Any], md5: str) -> str:
    return json.dumps({"source": dict(source), "md5": md5}, sort_keys=True)


def marker_matches(marker: Path, source: Mapping[str, Any], path: Path) -> bool:
    """Whether `path` is the file these source params wrote: the marker names the same
    params and the file still has the content hash recorded when they wrote it."""
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # no marker, or one from before markers had hashes
    if not isinstance(recorded, dict) or recorded.get("source") != dict(source):
        return False
    return path.is_file() and recorded.get("md5") == file_md5(path)


def ensure_source(source: Mapping[str, Any], data_path: str, root: Path) -> bool:
    """Write the raw file unless it is the one these same source params wrote (by content).
    Data the user provides (`kind: file`) is only checked. Returns whether it was written."""
    path = root / data_path
    parsed = parse_source(source)
    if not parsed.writes:
        parsed.check(path)
        return False
    marker = marker_path(root, data_path)
    if marker_matches(marker, source, path):
        return False
    materialize(source, path)
    with atomic_path(marker) as tmp:
        tmp.write_text(marker_text(source, file_md5(path)), encoding="utf-8")
    return True
