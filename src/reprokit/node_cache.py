"""Content-keyed node reuse for in-process runs: upstream work done once per sweep.

The runner's own cache (a sweep's jobs use it through the runner); every key part comes from
`reprokit.core.content`.

A node's key hashes everything that can change its outputs: the content of each input
(the md5 of the file a catalog dataset holds, as DVC records it), the values of the params
it binds, its code (the source files of its function, of its datasets' classes and
validators, with their project imports, as `dvc.yaml` deps are found), the catalog entries
of its datasets (minus the path) and `uv.lock`. A node whose key has an entry under
`.reprokit/cache/nodes/` is not run: the catalog reads its outputs from the cache instead.
Any change to a key part gives a new key, so nothing stale is ever reused.

Outputs are cached in the format their catalog dataset writes them (Parquet, JSON, LightGBM
text, CSV, PNG): the same round trip as between two DVC stages, never pickle. Kedro has no
hash-based skipping (kedro issues #2307, #2410); DVC's run-cache does this for `dvc exp`.

Keys are known before the run only for nodes whose inputs are files already (free inputs or
outputs of reused nodes); a node downstream of a computed one runs, and its key is computed
from the files it read once the run is over, when its outputs are stored.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprokit.core.content.code import code_hash, code_modules, source_closure
from reprokit.core.content.files import content_hash, lock_hash
from reprokit.core.content.params import bound_params, canonical_hash
from reprokit.logs import get_logger

if TYPE_CHECKING:
    from kedro.pipeline import Pipeline

    from reprokit.config.models import ReprokitConfig

log = get_logger(__name__)

CACHE_DIR = ".reprokit/cache/nodes"
MANIFEST = "manifest.json"
# Bump when the key or the entry layout changes: old entries then simply stop matching.
KEY_VERSION = 1
# Catalog keys that say where a dataset lives, not what it holds or how it is read.
_LOCATION_KEYS = ("filepath", "metadata")


def _place(source: Path, target: Path) -> None:
    """A hard link where the filesystem allows (outputs are replaced by rename, never edited
    in place, so the cached content cannot change), else a copy."""
    if source.is_dir():
        shutil.copytree(source, target, copy_function=_link_or_copy)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(str(source), str(target))


def _link_or_copy(source: str, target: str) -> str:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target


@dataclass
class NodeCache:
    """Reuse for one execution: `plan` before the run, `store` after a successful run.

    `only` restricts the execution to these nodes (a sweep's shared upstream pass).
    """

    root: Path
    params: Mapping[str, Any]
    only: frozenset[str] | None = None
    reused: list[str] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)
    config: ReprokitConfig | None = None
    _hashes: dict[str, str] = field(default_factory=dict)
    _code: dict[tuple[str, ...] | str, str] = field(default_factory=dict)

    @property
    def cache_dir(self) -> Path:
        return self.root / CACHE_DIR

    # --- keys ------------------------------------------------------------------------------

    def _path(self, config: ReprokitConfig, dataset: str) -> Path | None:
        filepath = config.catalog.get(dataset, {}).get("filepath")
        if not filepath:
            return None
        path = Path(str(filepath))
        return path if path.is_absolute() else self.root / path

    def _dataset_hash(self, config: ReprokitConfig, dataset: str) -> str | None:
        if dataset not in self._hashes:
            path = self._path(config, dataset)
            value = content_hash(path) if path is not None else None
            if value is None:
                return None
            self._hashes[dataset] = value
        return self._hashes[dataset]

    def _code_hash(self, config: ReprokitConfig, node: str) -> str:
        modules = tuple(code_modules([config.pipeline.nodes[node]], config.catalog))
        if modules not in self._code:
            self._code[modules] = code_hash(self.root, source_closure(modules, self.root))
        return self._code[modules]

    def _lock_hash(self) -> str:
        if "lock" not in self._code:  # once per execution: uv.lock is read, not rehashed per node
            self._code["lock"] = lock_hash(self.root)
        return self._code["lock"]

    def key(self, config: ReprokitConfig, node: str, pending: Iterable[str] = ()) -> str | None:
        """The node's key, or None when it cannot be known now: an input is still to be
        computed (`pending`) or is not a file, an output has no file, or it has no outputs
        (a check such as the quality gate always runs)."""
        spec = config.pipeline.nodes[node]
        blocked = set(pending)
        outputs = spec.output_names
        if not outputs or any(self._path(config, out) is None for out in outputs):
            return None
        inputs: dict[str, str] = {}
        for argument, dataset in spec.inputs.items():
            value = None if dataset in blocked else self._dataset_hash(config, dataset)
            if value is None:
                return None
            inputs[argument] = value
        params = bound_params(spec.params, self.params)
        datasets = {
            name: {k: v for k, v in config.catalog[name].items() if k not in _LOCATION_KEYS}
            for name in sorted({*spec.inputs.values(), *outputs})
            if name in config.catalog
        }
        return canonical_hash(
            {
                "version": KEY_VERSION,
                "func": spec.func,
                "inputs": inputs,
                "params": params,
                "outputs": outputs,
                "datasets": datasets,
                "code": self._code_hash(config, node),
                "lock": self._lock_hash(),
            }
        )

    # --- before the run --------------------------------------------------------------------

    def _entry(self, key: str, outputs: list[str]) -> dict[str, Any] | None:
        """The cache entry, if complete and unaltered (its files have their recorded md5)."""
        folder = self.cache_dir / key
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            recorded: dict[str, Any] = manifest["outputs"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if sorted(recorded) != sorted(outputs):
            return None
        for output, info in recorded.items():
            if content_hash(folder / info["file"]) != info["md5"]:
                log.warning("node.cache_entry_corrupt", key=key[:12], output=output)
                # Dropped, so that this run's store() writes a good entry in its place.
                shutil.rmtree(folder, ignore_errors=True)
                return None
        return recorded

    def plan(self, pipeline: Pipeline, config: ReprokitConfig) -> tuple[Pipeline, ReprokitConfig]:
        """The nodes to run and the catalog to run them with: reused nodes' outputs are read
        from the cache."""
        from kedro.pipeline import Pipeline

        if self.only is not None:
            pipeline = pipeline.only_nodes(*[n.name for n in pipeline.nodes if n.name in self.only])
        catalog = {name: dict(entry) for name, entry in config.catalog.items()}
        produced = set(pipeline.all_outputs())
        pending: set[str] = set(produced)
        self.reused, self.computed = [], []
        for node in pipeline.nodes:  # topologically sorted
            outputs = config.pipeline.nodes[node.name].output_names
            key = self.key(config, node.name, pending)
            entry = self._entry(key, outputs) if key is not None else None
            if key is None or entry is None:
                self.computed.append(node.name)
                log.info(
                    "node.computed",
                    node=node.name,
                    reason="no cache entry" if key else "key unknown before the run",
                )
                continue
            for output, info in entry.items():
                catalog[output]["filepath"] = str(self.cache_dir / key / info["file"])
                self._hashes[output] = info["md5"]
                pending.discard(output)
            self.reused.append(node.name)
            log.info("node.reused", node=node.name, key=key[:12])
        self.config = config.model_copy(update={"catalog": catalog})
        to_run = pipeline.only_nodes(*self.computed) if self.computed else Pipeline([])
        return to_run, self.config

    # --- after the run ---------------------------------------------------------------------

    def store(self, ran: Pipeline) -> None:
        """Cache the outputs of the nodes that ran, keyed by the files they read."""
        assert self.config is not None, "plan() must run before store()"
        config = self.config
        # Declared nodes only (an engine may wrap the pipeline's nodes, keeping their names).
        names = [node.name for node in ran.nodes if node.name in config.pipeline.nodes]
        for name in names:
            # Outputs were (re)written by this run: hash their new content.
            for output in config.pipeline.nodes[name].output_names:
                self._hashes.pop(output, None)
        for name in names:
            key = self.key(config, name)
            if key is None:
                continue
            self._write_entry(key, name, config)

    def _write_entry(self, key: str, node: str, config: ReprokitConfig) -> None:
        final = self.cache_dir / key
        if (final / MANIFEST).is_file():
            return
        tmp = self.cache_dir / f".{key}.{uuid.uuid4().hex}.tmp"
        try:
            outputs: dict[str, dict[str, str]] = {}
            for output in config.pipeline.nodes[node].output_names:
                source = self._path(config, output)
                md5 = self._dataset_hash(config, output)
                if source is None or md5 is None:
                    return
                relative = f"{output}/{source.name}"
                _place(source, tmp / relative)
                outputs[output] = {"file": relative, "md5": md5}
            manifest = {"node": node, "func": config.pipeline.nodes[node].func, "outputs": outputs}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            if final.exists() and not (final / MANIFEST).is_file():
                shutil.rmtree(final, ignore_errors=True)  # debris of an interrupted write
            try:
                tmp.rename(final)  # atomic; a parallel job that got there first wins
            except OSError:
                return
            log.info("node.cached", node=node, key=key[:12])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
