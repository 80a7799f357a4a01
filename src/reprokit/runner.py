"""Run declared pipelines with the engine's Kedro runner on a catalog built from the config.

Every entry point (`reprokit run`, the DVC stages, `kedro run`) ends here or in Kedro's
session with the same catalog, the same node functions and the same params, and hands
them to the same runner: the engine that `engine.kind` registers (reprokit.engines).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprokit._compat.kedro import hook_manager as kedro_hook_manager
from reprokit.config.models import ReprokitConfig
from reprokit.engines import engine_runner
from reprokit.errors import PipelineSpecError
from reprokit.logs import get_logger
from reprokit.pipeline.spec import PARAMS_PREFIX, build_pipelines, lookup

if TYPE_CHECKING:
    from reprokit.node_cache import NodeCache

log = get_logger(__name__)
DEFAULT_PIPELINE = "__default__"


# Kedro's data folder convention (`data/01_raw/`, `data/08_reporting/`): the layer a file
# is in, for kedro-viz's layer view.
_LAYER_FOLDER = re.compile(r"(?:^|/)\d\d_([a-z][a-z_]*)/")
VIZ_KEY = "kedro-viz"


def with_viz_layer(entry: Mapping[str, Any]) -> dict[str, Any]:
    """`entry` with `metadata.kedro-viz.layer` from its file's data folder (`data/03_primary/`
    -> `primary`), unless the entry declares a layer itself or is in no such folder."""
    entry = dict(entry)
    match = _LAYER_FOLDER.search(str(entry.get("filepath", "")).replace("\\", "/"))
    metadata = dict(entry.get("metadata") or {})
    viz = dict(metadata.get(VIZ_KEY) or {})
    if match is None or "layer" in viz:
        return entry
    metadata[VIZ_KEY] = {**viz, "layer": match.group(1)}
    return {**entry, "metadata": metadata}


def catalog_config(config: ReprokitConfig, root: Path) -> dict[str, dict[str, Any]]:
    """The catalog section with file paths made absolute against the project root, and each
    file's kedro-viz layer from its data folder."""
    resolved: dict[str, dict[str, Any]] = {}
    for name, declared in config.catalog.items():
        entry = with_viz_layer(declared)
        if "filepath" in entry and not Path(entry["filepath"]).is_absolute():
            entry["filepath"] = str(root / entry["filepath"])
        resolved[name] = entry
    return resolved


def param_inputs(config: ReprokitConfig, params: Mapping[str, Any]) -> dict[str, Any]:
    """`params:<key>` values for every key a declared node binds."""
    return {
        PARAMS_PREFIX + key: lookup(params, key)
        for node_spec in config.pipeline.nodes.values()
        for key in node_spec.params.values()
    }


def build_catalog(config: ReprokitConfig, params: Mapping[str, Any], root: Path) -> Any:
    """The Kedro catalog as declared (an engine's runner maps it to its own datasets)."""
    from kedro.io import DataCatalog

    catalog = DataCatalog.from_config(catalog_config(config, root))
    for name, value in param_inputs(config, params).items():
        catalog[name] = value
    return catalog


def check_pipeline_names(declared: Iterable[str], names: Sequence[str]) -> None:
    """PipelineSpecError naming the declared pipelines unless every one of `names` is one
    (or `__default__`)."""
    known = sorted(declared)
    unknown = [name for name in names if name != DEFAULT_PIPELINE and name not in known]
    if unknown:
        raise PipelineSpecError(f"unknown pipeline(s) {unknown}; declared pipelines: {known}")


def select_pipeline(pipelines: Mapping[str, Any], names: Sequence[str]) -> Any:
    check_pipeline_names((name for name in pipelines if name != DEFAULT_PIPELINE), names)
    return sum((pipelines[name] for name in names[1:]), pipelines[names[0]])


def run_pipelines(
    config: ReprokitConfig,
    params: Mapping[str, Any],
    root: Path,
    names: Sequence[str] = (DEFAULT_PIPELINE,),
    hooks: Iterable[Any] = (),
    *,
    reuse: NodeCache | None = None,
    adapt: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Run the named pipelines (as one Kedro pipeline) and return their free outputs.

    With `reuse` (sweeps), nodes whose content key is cached are not run: the catalog reads
    their outputs from the cache (src/reprokit/node_cache.py). `adapt` transforms the
    pipeline before the engine sees it (`reprokit tune` binds its pruning callback).
    """
    check_pipeline_names(config.pipeline.pipelines, names)
    # Only the named pipelines' nodes are imported: a stage pays for its own node code.
    only = None if DEFAULT_PIPELINE in names else names
    pipelines = build_pipelines(config.pipeline, params, config.catalog, only=only)
    pipeline = select_pipeline(pipelines, names)
    if reuse is not None:
        pipeline, config = reuse.plan(pipeline, config)
    if adapt is not None:
        pipeline = adapt(pipeline)
    # The engine's runner (engine.kind) decides how nodes run and how tables are held.
    runner = engine_runner(config.engine)
    catalog = build_catalog(config, params, root)
    hook_manager = kedro_hook_manager(hooks)
    started = time.perf_counter()
    log.info("pipeline.start", pipelines=list(names), nodes=len(pipeline.nodes))
    outputs: dict[str, Any] = runner.run(pipeline, catalog, hook_manager) if pipeline.nodes else {}
    if reuse is not None:
        reuse.store(pipeline)
    log.info(
        "pipeline.done", pipelines=list(names), seconds=round(time.perf_counter() - started, 3)
    )
    return outputs
