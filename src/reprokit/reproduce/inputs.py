"""The run's input data, found by its recorded md5: the workspace file if it still has that
content, else the object in DVC's cache (verified: a cache can be corrupted)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit.core.content.files import cache_object, dvc_cache_dir, file_md5
from reprokit.errors import ConfigError
from reprokit.reproduce.errors import DataUnavailableError
from reprokit.tracking.runs import RecordedRun


@dataclass(frozen=True)
class InputData:
    """An input file of the run, found by its recorded md5."""

    dataset: str
    md5: str
    source: Path  # where a file with that md5 was found
    origin: str  # "workspace" or "DVC cache"


def _resolve(root: Path, declared: str) -> Path:
    path = Path(declared)
    return path if path.is_absolute() else root / path


def locate_input(
    dataset: str, md5: str, declared: str, root: Path, cache_dir: Path | None
) -> InputData:
    """The workspace file if it has the recorded content, else DVC's cache object (verified:
    a cache can be corrupted), else an error saying where it looked and what it found.

    `cache_dir`: DVC's cache folder (`dvc_cache_dir`), None outside a DVC project."""
    workspace_file = _resolve(root, declared)
    current = file_md5(workspace_file) if workspace_file.is_file() else None
    if current == md5:
        return InputData(dataset, md5, workspace_file, "workspace")
    cached = None if cache_dir is None else cache_object(cache_dir, md5)
    cached_md5 = file_md5(cached) if cached is not None and cached.is_file() else None
    if cached is not None and cached_md5 == md5:
        return InputData(dataset, md5, cached, "DVC cache")
    if current is None:
        in_workspace = f"{workspace_file} does not exist"
    else:
        in_workspace = f"{workspace_file} has md5 {current} (the data changed since the run)"
    if cached is None:
        in_cache = f"{root} is in no DVC project, so no DVC cache holds it"
    elif cached_md5 is None:
        in_cache = f"DVC cache object {cached} does not exist"
    else:
        in_cache = f"DVC cache object {cached} is corrupt (md5 {cached_md5})"
    raise DataUnavailableError(
        f"input data {dataset!r} of the run (md5 {md5}) is not available: {in_workspace}; "
        f"{in_cache}. Put a file with that content back (e.g. `dvc checkout` or `dvc pull` with "
        "the dvc.lock or .dvc file of the run's commit) to reproduce this run"
    )


def input_paths(params: Mapping[str, Any], datasets: Mapping[str, str]) -> dict[str, str]:
    """Dataset -> the catalog filepath the run read it from."""
    catalog = params.get("catalog") or {}
    paths: dict[str, str] = {}
    for dataset in datasets:
        filepath = (catalog.get(dataset) or {}).get("filepath")
        if not filepath:
            raise ConfigError(
                f"the run's config declares no `catalog.{dataset}.filepath`, but the run "
                f"recorded input data {dataset!r}"
            )
        paths[dataset] = str(filepath)
    return paths


def locate_inputs(run: RecordedRun, params: Mapping[str, Any], root: Path) -> list[InputData]:
    hashes = run.data_hashes
    cache_dir = dvc_cache_dir(root)
    return [
        locate_input(dataset, hashes[dataset], declared, root, cache_dir)
        for dataset, declared in input_paths(params, hashes).items()
    ]
