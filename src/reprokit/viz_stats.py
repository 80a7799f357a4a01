"""Dataset statistics for kedro-viz after every entry point, not only `kedro run`.

kedro-viz shows a dataset's rows, columns and file size from `.viz/stats.json`, which its own
hook writes during `kedro run` only, and from that run's datasets only: after `dvc repro` or
`reprokit run` every dataset read "Dataset statistics: N/A". This hook writes the same file
in kedro-viz's format from the tables a run loads or saves, merged into what is there, since
a DVC stage runs one pipeline and must not erase the other stages' entries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from reprokit.core.fs import atomic_path
from reprokit.logs import get_logger

log = get_logger(__name__)

# Where kedro-viz reads the statistics (kedro_viz.constants.VIZ_METADATA_ARGS), under the
# project root.
STATS_FILE = Path(".viz") / "stats.json"


def table_stats(data: Any, path: Path | None) -> dict[str, int] | None:
    """kedro-viz's statistics of a pandas table (rows, columns, and its file's size in
    bytes when it has one: a directory counts its files); None for anything else, as
    kedro-viz's own hook."""
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        return None
    stats = {"rows": int(data.shape[0]), "columns": int(data.shape[1])}
    size = _size(path) if path is not None else None
    return stats if size is None else {**stats, "file_size": size}


def _size(path: Path) -> int | None:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    return None


def merged(existing: Mapping[str, Any], new: Mapping[str, dict[str, int]]) -> dict[str, Any]:
    """`existing` statistics with this run's datasets replaced, sorted by name."""
    return dict(sorted({**existing, **new}.items()))


def _read(path: Path) -> dict[str, Any]:
    """The statistics already written; a missing or damaged file counts as none."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


class VizStatsHook:
    """Collects the statistics of the tables a pipeline run loads and saves; `write()`
    merges them into the project's `.viz/stats.json` (atomically) once the run succeeded."""

    def __init__(self, root: Path, catalog: Mapping[str, Mapping[str, Any]]) -> None:
        self.root = root
        self._paths = {
            name: root / entry["filepath"] for name, entry in catalog.items() if "filepath" in entry
        }
        self.stats: dict[str, dict[str, int]] = {}

    def _note(self, dataset_name: str, data: Any) -> None:
        found = table_stats(data, self._paths.get(dataset_name))
        if found is not None:
            self.stats[dataset_name] = found

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any) -> None:
        self._note(dataset_name, data)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        self._note(dataset_name, data)

    def write(self) -> None:
        if not self.stats:
            return
        path = self.root / STATS_FILE
        try:
            with atomic_path(path) as tmp:
                text = json.dumps(merged(_read(path), self.stats), indent=1)
                tmp.write_text(text + "\n", encoding="utf-8")
        except OSError as error:  # a view's side file: never fails the run
            log.warning("viz_stats.not_written", path=str(path), error=str(error))
