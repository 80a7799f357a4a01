"""What one execution produced: the only outputs its MLflow run may record as its own.

A run that did not make a model must not log, hash or register the model file another
config left in `data/` (issue 11: `reprokit run -p prepare` registered one). An output
counts as this execution's when:

- `written`: a node of this execution saved it (the execution record's `saved`, hashed by
  the recorder right after the save). The only way for `reprokit run` and `kedro run`.
- `dvc-lock`: with `dvc repro`, a stage DVC did not rerun (up to date, or restored from its
  run-cache) wrote no record. DVC skips a stage only when its params, dependencies and
  outputs match `dvc.lock`, so its outputs in the workspace are by construction the ones of
  the current params. We check exactly that ourselves (the lock entry's params against
  params.yaml, every file dependency and output against its md5) rather than trusting it,
  so `dvc repro -s track` after editing a file by hand records nothing of that stage.
- `node-cache`: a sweep job read it from the node cache, whose key hashes the node's inputs,
  params and code (src/reprokit/node_cache.py): again this config's by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit.config.models import ReprokitConfig
from reprokit.config.roles import ROLES, declared_roles, role_of
from reprokit.core.names import output_sha256_tag
from reprokit.core.yaml_text import load_yaml

WRITTEN = "written"
DVC_LOCK = "dvc-lock"
NODE_CACHE = "node-cache"
DVC_LOCK_FILE = "dvc.lock"
GATE_FUNCTION = "reprokit.nodes.evaluate.check_quality_gate"

GATE_PASSED = "passed"
GATE_FAILED = "failed"
GATE_NOT_CHECKED = "not checked by this run"

# The words a run's `rk.model` tag says about its model, by origin.
MODEL_ORIGIN_TEXT = {
    WRITTEN: "trained by this run",
    DVC_LOCK: "this config's model, not retrained: DVC found the train stage up to date "
    "(checked against dvc.lock)",
    NODE_CACHE: "this config's model, reused from the node cache",
}
NOT_TRAINED = "not trained by this run"


@dataclass(frozen=True)
class Output:
    """One output of the execution: the sha256 of its file (None for a folder) and how the
    execution came to own it (`WRITTEN`, `DVC_LOCK`, `NODE_CACHE`)."""

    sha256: str | None
    origin: str = WRITTEN


def written_outputs(records: Iterable[Mapping[str, Any]]) -> dict[str, Output]:
    """The datasets the nodes of these execution records saved."""
    return {
        name: Output(sha256)
        for record in records
        for name, sha256 in (record.get("saved") or {}).items()
    }


def ran_nodes(records: Iterable[Mapping[str, Any]]) -> set[str]:
    return {name for record in records for name in record.get("node_seconds") or {}}


def gate_nodes(config: ReprokitConfig) -> set[str]:
    return {name for name, spec in config.pipeline.nodes.items() if spec.func == GATE_FUNCTION}


def gate_status(config: ReprokitConfig, ran: set[str], error: BaseException | None) -> str:
    """`passed` when a quality-gate node ran and the execution did not fail on it."""
    from reprokit.errors import QualityGateError

    if isinstance(error, QualityGateError):
        return GATE_FAILED
    gates = gate_nodes(config)
    return GATE_PASSED if gates and gates <= ran and error is None else GATE_NOT_CHECKED


def output_sha256_key(catalog: Mapping[str, Any], dataset: str) -> str:
    """The run tag holding the sha256 of `dataset`, a file the run produced (tracking writes
    it, packaging checks it): named by the dataset's role. A catalog that declares no role
    (recorded before roles existed) names each role's dataset by the role itself."""
    role = role_of(catalog.get(dataset))
    if role is None and not declared_roles(catalog) and dataset in ROLES:
        role = dataset
    return output_sha256_tag(dataset, role)


# --- DVC ------------------------------------------------------------------------------------


def _lock_stages(root: Path) -> dict[str, Any]:

    path = root / DVC_LOCK_FILE
    if not path.is_file():
        return {}
    lock = load_yaml(path.read_text(encoding="utf-8")) or {}
    stages = lock.get("stages") if isinstance(lock, dict) else None
    return stages if isinstance(stages, dict) else {}


def _params_match(entry: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    from reprokit.pipeline.spec import lookup

    for values in (entry.get("params") or {}).values():
        for key, value in (values or {}).items():
            try:
                if lookup(params, key) != value:
                    return False
            except KeyError:
                return False
    return True


def _files_match(entries: Iterable[Mapping[str, Any]], root: Path) -> bool:
    """Every file entry's md5 is the file's; a folder (`.dir` hash) is checked through the
    files of the same stage (DVC's folder hash is its own manifest format)."""
    from reprokit.core.content.files import file_md5

    for entry in entries:
        md5 = str(entry.get("md5", ""))
        if md5.endswith(".dir"):
            continue
        path = root / str(entry.get("path", ""))
        if not path.is_file() or file_md5(path) != md5:
            return False
    return True


def stage_is_current(entry: Mapping[str, Any], params: Mapping[str, Any], root: Path) -> bool:
    """What DVC itself checks before skipping a stage: params, dependencies, outputs."""
    return _params_match(entry, params) and _files_match(
        [*(entry.get("deps") or []), *(entry.get("outs") or [])], root
    )


def dvc_current_stages(stages: Iterable[str], params: Mapping[str, Any], root: Path) -> set[str]:
    """Those of `stages` whose dvc.lock entry matches the workspace and params."""
    lock = _lock_stages(root)
    return {
        name
        for name in stages
        if isinstance(lock.get(name), dict) and stage_is_current(lock[name], params, root)
    }


def stage_outputs(config: ReprokitConfig, stage: str) -> set[str]:
    """The datasets the nodes of pipeline (= DVC stage) `stage` save."""
    nodes = config.pipeline.pipelines.get(stage, [])
    return {out for name in nodes for out in config.pipeline.nodes[name].output_names}


def dvc_outputs(
    config: ReprokitConfig,
    params: Mapping[str, Any],
    root: Path,
    records: Mapping[str, Mapping[str, Any]],
    hashed: Mapping[str, Path],
) -> tuple[dict[str, Output], set[str]]:
    """The outputs of a `dvc repro` execution and the nodes that count as run: the stages
    that recorded themselves, plus the stages DVC skipped that are current (`DVC_LOCK`)."""
    from reprokit.core.content.files import file_sha256

    outputs = written_outputs(records.values())
    ran = ran_nodes(records.values())
    skipped = [stage for stage in config.pipeline.pipelines if stage not in records]
    for stage in sorted(dvc_current_stages(skipped, params, root)):
        ran.update(config.pipeline.pipelines[stage])
        for name in stage_outputs(config, stage) - set(outputs):
            path = hashed.get(name)
            sha256 = file_sha256(path) if path is not None and path.is_file() else None
            outputs[name] = Output(sha256, DVC_LOCK)
    return outputs, ran


def sweep_job_outputs(
    config: ReprokitConfig,
    record: Mapping[str, Any],
    reused_nodes: Iterable[str],
    hashed: Mapping[str, Path],
) -> dict[str, Output]:
    """A sweep job's outputs: what its nodes wrote plus the reused nodes' cached outputs."""
    from reprokit.core.content.files import file_sha256

    outputs = written_outputs([record])
    for node in reused_nodes:
        for name in config.pipeline.nodes[node].output_names:
            path = hashed.get(name)
            sha256 = file_sha256(path) if path is not None and path.is_file() else None
            outputs.setdefault(name, Output(sha256, NODE_CACHE))
    return outputs
