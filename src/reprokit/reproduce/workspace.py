"""The isolated workspace a rerun runs in: the sources, the run's params.yaml (tracking and
serving off) and copies of its input data; the user's files are never read or written in
place."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from reprokit.core.dotted import assign
from reprokit.core.names import PARAMS_FILE
from reprokit.reproduce.inputs import InputData, input_paths

# What a workspace needs besides params.yaml and the input data: the config tree, the code
# (the stages' code deps, hashed into the fingerprint) and the packaging metadata.
WORKSPACE_FILES = ("conf", "src", "uv.lock", "pyproject.toml")
# Inputs and outputs the run's catalog declares by absolute path are redirected here (inside
# the workspace), so the rerun can never read or write the user's files in place.
EXTERNAL_DIR = "external"


def rerun_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The run's config as the rerun uses it: tracking and serving off (a reproduction is not
    a new run; neither is part of the fingerprint) and absolute catalog paths moved inside the
    workspace (the user's files must not be read or written in place)."""
    rerun = copy.deepcopy(dict(params))
    assign(rerun, "tracking.enabled", False)
    # Nor a new BentoML model; only where the run's config has the section (older code
    # rejects unknown keys).
    if isinstance(rerun.get("serving"), dict):
        assign(rerun, "serving.enabled", False)
    for dataset, entry in (rerun.get("catalog") or {}).items():
        filepath = entry.get("filepath") if isinstance(entry, dict) else None
        if filepath and Path(str(filepath)).is_absolute():
            entry["filepath"] = f"{EXTERNAL_DIR}/{dataset}/{Path(str(filepath)).name}"
    return rerun


def copy_sources(source_root: Path, workspace: Path) -> None:
    for name in WORKSPACE_FILES:
        source, target = source_root / name, workspace / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy2(source, target)


def build_workspace(
    source_root: Path, workspace: Path, params: Mapping[str, Any], inputs: list[InputData]
) -> dict[str, Path]:
    """Sources, params.yaml and the input data in `workspace`; returns dataset -> placed file."""
    workspace.mkdir(parents=True)
    copy_sources(source_root, workspace)
    text = yaml.safe_dump(params, sort_keys=False, allow_unicode=True)
    (workspace / PARAMS_FILE).write_text(text, encoding="utf-8")
    placed = input_paths(params, {item.dataset: item.md5 for item in inputs})
    files = {}
    for item in inputs:
        target = workspace / placed[item.dataset]
        target.parent.mkdir(parents=True, exist_ok=True)
        # A copy, not a link: a faulty node must not be able to alter the cache or the user's file.
        shutil.copyfile(item.source, target)
        files[item.dataset] = target
    return files
