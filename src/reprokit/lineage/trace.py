"""`reprokit lineage <ref>`: read each link of the chain and have reprokit.lineage.verify
check it.

A ref is any link of the chain: an MLflow run id, a registry version (`name/version` or
`models:/name/version`), or a BentoML model tag (`name:version`, e.g. a served response's
`x-reprokit-model-tag` header). From a BentoML model the chain is read downwards through
its metadata (run id, registry version, tracking URI); from a run or a version, the
BentoML model is the packaged model (of this project, if several) that names it.

This module reads (BentoML store, MLflow, DVC cache, git) and never writes: a temporary
git worktree of the run's commit is the only thing it creates, and it is removed.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit.core.content.code import code_hash
from reprokit.core.content.files import (
    cache_object,
    dvc_cache_dir,
    file_md5,
    file_sha256,
    lock_hash,
)
from reprokit.core.content.params import canonical_hash, result_config
from reprokit.core.names import FINGERPRINT_TAG, GIT_COMMIT_TAG, GIT_DIRTY_TAG, MODEL_SHA256_TAG
from reprokit.errors import ConfigError, ReprokitError
from reprokit.lineage.verify import (
    BentoFacts,
    CommitFacts,
    DataFacts,
    Link,
    RunFacts,
    VersionFacts,
    broken,
    check_bento,
    check_commit,
    check_data,
    check_fingerprint,
    check_prediction,
    check_run,
    check_version,
    exit_code,
    not_checked,
    verified,
)
from reprokit.logs import get_logger
from reprokit.serving.bundle import MODEL_FILE
from reprokit.serving.store import ProjectIdentity, project_identity, store_hint

log = get_logger(__name__)

# A full MLflow run id, or a unique prefix of one (as `reprokit runs` shows them).
RUN_ID = re.compile(r"^[0-9a-f]{6,32}$")
VERSION_REF = re.compile(r"^(?:models:/)?(?P<name>[^/:@\s]+)/(?P<version>\d+)$")
BENTO_TAG = re.compile(r"^[a-z0-9][-._a-z0-9]*:[-._a-z0-9]+$")
REF_FORMATS = (
    "an MLflow run id (32 hex digits, or a unique prefix of 6 or more), a registry version "
    "(`name/version` or `models:/name/version`), or a BentoML model tag (`name:version`, as in "
    "a response's x-reprokit-model-tag header)"
)


class UnknownRefError(ReprokitError):
    """The ref names nothing known: not a run, version or BentoML model; exit 2."""

    exit_code = 2


@dataclass(frozen=True)
class Ref:
    kind: str  # "run" | "version" | "bento"
    value: str
    name: str = ""  # a version's registered model
    version: str = ""


def parse_ref(ref: str) -> Ref:
    """What kind of link `ref` is, by its form alone.

    Raises:
        UnknownRefError: It has none of the forms.
    """
    text = ref.strip()
    if RUN_ID.match(text):
        return Ref("run", text)
    match = VERSION_REF.match(text)
    if match:
        return Ref("version", text, match["name"], match["version"])
    if BENTO_TAG.match(text.lower()):
        return Ref("bento", text.lower())
    raise UnknownRefError(f"{ref!r} is not a lineage ref: give {REF_FORMATS}")


@dataclass(frozen=True)
class Lineage:
    ref: str
    links: list[Link]

    @property
    def exit_code(self) -> int:
        return exit_code(self.links)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "verified": self.exit_code == 0,
            "links": [link.as_dict() for link in self.links],
        }


# --- BentoML ---------------------------------------------------------------------------------


def bento_facts(model: Any) -> BentoFacts:
    path = Path(model.path) / MODEL_FILE
    return BentoFacts(
        tag=str(model.tag),
        labels=dict(model.info.labels),
        metadata=dict(model.info.metadata),
        file_sha256=file_sha256(path) if path.is_file() else None,
    )


def stored_bento(tag: str) -> Any | None:
    import bentoml
    from bentoml.exceptions import BentoMLException

    try:
        return bentoml.models.get(tag)
    except BentoMLException:  # NotFound, or a tag BentoML cannot parse
        return None


def bento_naming(project: ProjectIdentity, key: str, value: str, **more: str) -> Any | None:
    """The packaged model whose metadata names `value` under `key` (and `more`): this
    project's if it has one, else any copy's, newest first."""
    import bentoml

    wanted = {key: value, **more}
    models = [
        m
        for m in bentoml.models.list()
        if all(str(m.info.metadata.get(k)) == v for k, v in wanted.items())
    ]
    models.sort(key=lambda m: m.info.creation_time, reverse=True)
    own = [m for m in models if project.owns(str(m.tag), dict(m.info.labels))]
    candidates = own or models
    return candidates[0] if candidates else None


def project_link(bento: BentoFacts, project: ProjectIdentity) -> Link:
    if project.owns(bento.tag, bento.labels):
        return verified("BentoML model project", bento.tag, None, project.describe())
    return not_checked(
        "BentoML model project",
        bento.tag,
        None,
        f"packaged by another project or copy (labels {dict(bento.labels)}), not "
        f"{project.describe()}: data and git are checked in this project",
    )


# --- MLflow ----------------------------------------------------------------------------------


def mlflow_client(uri: str) -> Any | None:
    """A client of `uri`; None for a SQLite store that does not exist (MLflow would create
    and migrate one just to answer "not found")."""
    from reprokit.tracking.runs import missing_sqlite_store

    if missing_sqlite_store(uri) is not None:
        return None
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def version_facts(client: Any, name: str, version: str) -> VersionFacts:
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_model_version(name, version)
    except MlflowException:
        return VersionFacts(name=name, version=version, found=False)
    return VersionFacts(
        name=name, version=version, found=True, run_id=found.run_id, tags=dict(found.tags)
    )


def version_of_run(client: Any, run_id: str) -> VersionFacts | None:
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"run_id = '{run_id}'")
    except MlflowException:
        return None
    if not versions:
        return None
    newest = max(versions, key=lambda v: int(v.version))
    return version_facts(client, newest.name, str(newest.version))


def _run_artifacts(client: Any, run_id: str, scratch: Path) -> dict[str, Any]:
    """The composed config (and its config hash), the model artifact's sha256 and
    fingerprint.json; each one that cannot be read is named in `problems`."""
    import json

    from reprokit.reproduce.recorded import (
        FINGERPRINT_ARTIFACT,
        artifact_path,
        model_dataset,
    )
    from reprokit.tracking.runs import (
        COMPOSED_CONFIG,
        RunError,
        download_artifact,
        parse_composed_config,
    )

    found: dict[str, Any] = {"problems": []}

    def read(key: str, value: Callable[[], Any]) -> None:
        try:
            found[key] = value()
        except (RunError, ConfigError, ValueError) as error:
            found["problems"].append(str(error))

    def params() -> dict[str, Any]:
        text = download_artifact(client, run_id, COMPOSED_CONFIG, scratch).read_text("utf-8")
        return parse_composed_config(text, run_id)

    def model_sha256() -> str:
        model = artifact_path(found["params"], model_dataset(found["params"], run_id))
        return file_sha256(download_artifact(client, run_id, model, scratch))

    def fingerprint() -> dict[str, Any]:
        logged = download_artifact(client, run_id, FINGERPRINT_ARTIFACT, scratch)
        value = json.loads(logged.read_text("utf-8"))
        if not isinstance(value, dict):
            raise ValueError(f"{FINGERPRINT_ARTIFACT} of run {run_id} does not hold a mapping")
        return value

    read("params", params)
    if "params" in found:
        found["composed_config_hash"] = canonical_hash(result_config(found["params"]))
        read("model_artifact_sha256", model_sha256)
    read("logged_fingerprint", fingerprint)
    return found


def run_facts(client: Any, run_id: str, scratch: Path) -> tuple[RunFacts, dict[str, Any]]:
    """The run as read, and its composed config (empty when unreadable)."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:
        return RunFacts(run_id=run_id, found=False), {}
    read = _run_artifacts(client, run_id, scratch) if run.info.status == "FINISHED" else {}
    params = read.pop("params", {})
    facts = RunFacts(
        run_id=run_id,
        found=True,
        status=str(run.info.status),
        deleted=run.info.lifecycle_stage == "deleted",
        tags=dict(run.data.tags),
        **read,
    )
    return facts, params


# --- data and git ----------------------------------------------------------------------------


def _cache_facts(root: Path, cache_dir: Path | None, md5: str) -> tuple[str, str | None]:
    """Where DVC's cache would keep `md5` (relative to `root` when inside it) and the md5 of
    what is there (None: nothing, or no DVC project)."""
    if cache_dir is None:
        return f"(none: {root} is in no DVC project)", None
    cached = cache_object(cache_dir, md5)
    shown = cached.relative_to(root) if cached.is_relative_to(root) else cached
    return str(shown), file_md5(cached) if cached.is_file() else None


def data_facts(root: Path, run: RunFacts, params: dict[str, Any]) -> list[DataFacts]:
    catalog = params.get("catalog") or {}
    cache_dir = dvc_cache_dir(root)
    facts = []
    for dataset, md5 in run.data_hashes.items():
        declared = str((catalog.get(dataset) or {}).get("filepath") or dataset)
        workspace = Path(declared) if Path(declared).is_absolute() else root / declared
        cached, cached_md5 = _cache_facts(root, cache_dir, md5)
        facts.append(
            DataFacts(
                dataset=dataset,
                md5=md5,
                workspace_file=declared,
                workspace_md5=file_md5(workspace) if workspace.is_file() else None,
                cache_object=cached,
                cache_md5=cached_md5,
            )
        )
    return facts


def _commit_exists(root: Path, commit: str) -> bool:
    result = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"],
        cwd=root,
        capture_output=True,
        check=False,
        timeout=30,
    )
    return result.returncode == 0


def _hashes_at(
    root: Path, commit: str, params: dict[str, Any], run_id: str, scratch: Path
) -> tuple[str, str]:
    """The code and lock hashes as the fingerprint computes them, on the commit's files (a
    temporary git worktree; the code-file list comes from the current code's analysis)."""
    from reprokit.layout import pipeline_code_files
    from reprokit.reproduce.notes import validated
    from reprokit.reproduce.worktree import commit_checkout

    config = validated(params, run_id)
    with commit_checkout(root, commit, scratch) as tree:
        return code_hash(tree, pipeline_code_files(config, tree)), lock_hash(tree)


def commit_facts(root: Path, run: RunFacts, params: dict[str, Any], scratch: Path) -> CommitFacts:
    commit = run.tag(GIT_COMMIT_TAG)
    if not commit or commit == "unknown":
        return CommitFacts(commit=None, exists=False, dirty=False)
    dirty = run.tag(GIT_DIRTY_TAG) == "true"
    if not _commit_exists(root, commit):
        return CommitFacts(commit=commit, exists=False, dirty=dirty)
    if dirty:
        why = "the run was recorded with uncommitted changes: the commit is not the code that ran"
        return CommitFacts(commit=commit, exists=True, dirty=True, why_not=why)
    if not params:
        return CommitFacts(commit=commit, exists=True, dirty=False, why_not="no composed config")
    try:
        code, lock = _hashes_at(root, commit, params, run.run_id, scratch)
    except ReprokitError as error:
        return CommitFacts(commit=commit, exists=True, dirty=False, why_not=str(error))
    return CommitFacts(commit=commit, exists=True, dirty=False, code_hash=code, lock_hash=lock)


# --- the walk --------------------------------------------------------------------------------


@dataclass
class _Walk:
    """What the walk has read so far; each step fills its part."""

    root: Path
    project: ProjectIdentity
    project_uri: str
    links: list[Link]
    bento: BentoFacts | None = None
    version: VersionFacts | None = None
    run_id: str | None = None
    uri: str | None = None


def _from_bento(walk: _Walk, model: Any, served_fingerprint: str | None) -> None:
    bento = walk.bento = bento_facts(model)
    walk.links += check_prediction(bento, served_fingerprint)
    walk.links += [project_link(bento, walk.project), *check_bento(bento)]
    walk.run_id = bento.meta("mlflow_run_id")
    walk.uri = bento.meta("tracking_uri") or walk.project_uri
    name, number = bento.meta("registered_model"), bento.meta("model_version")
    if name and number:
        client = mlflow_client(walk.uri)
        # No store at the recorded URI: the version is missing too (the run link says where).
        walk.version = (
            VersionFacts(name, number, found=False)
            if client is None
            else version_facts(client, name, number)
        )


def _to_bento(walk: _Walk, model: Any | None, why: str) -> None:
    if model is None:
        walk.links.append(not_checked("BentoML model", "-", None, why))
    else:
        walk.bento = bento_facts(model)
        walk.links += [project_link(walk.bento, walk.project), *check_bento(walk.bento)]


def _start(walk: _Walk, ref: Ref, served_fingerprint: str | None) -> None:
    """Read the ref's own link (an unknown one is exit 2) and what it points to."""
    if ref.kind == "bento":
        model = stored_bento(ref.value)
        if model is None:
            raise UnknownRefError(f"no BentoML model {ref.value!r} in the store ({store_hint()})")
        _from_bento(walk, model, served_fingerprint)
        return
    client = mlflow_client(walk.project_uri)
    if client is None:
        raise UnknownRefError(f"no MLflow store at {walk.project_uri}: nothing recorded here")
    walk.uri = walk.project_uri
    if ref.kind == "version":
        walk.version = version_facts(client, ref.name, ref.version)
        if not walk.version.found:
            raise UnknownRefError(f"no registry version {ref.name}/{ref.version} in {walk.uri}")
        walk.run_id = walk.version.run_id
        found = bento_naming(walk.project, "registered_model", ref.name, model_version=ref.version)
        _to_bento(walk, found, f"no packaged model of {ref.name}/{ref.version} in the store")
        return
    from mlflow.exceptions import MlflowException

    from reprokit.tracking.runs import RunError, resolve_run_id

    try:
        run_id = resolve_run_id(client, ref.value)
        client.get_run(run_id)
    except RunError as error:
        raise UnknownRefError(str(error)) from None
    except MlflowException:
        raise UnknownRefError(f"no MLflow run {ref.value} in {walk.uri}") from None
    walk.run_id = run_id
    walk.version = version_of_run(client, run_id)
    _to_bento(
        walk,
        bento_naming(walk.project, "mlflow_run_id", run_id),
        f"no packaged model of run {run_id} in the store",
    )


def _down_from_run(walk: _Walk, scratch: Path) -> None:
    bento, version = walk.bento, walk.version
    if version is not None:
        walk.links += check_version(version, bento)
    else:
        walk.links.append(not_checked("registry version", "-", None, "the model is not registered"))
    if walk.run_id is None:
        subject = bento.tag if bento else "-"
        walk.links.append(broken("MLflow run", subject, None, "names no MLflow run"))
        return
    client = mlflow_client(walk.uri or walk.project_uri)
    if client is None:
        walk.links.append(broken("MLflow run", walk.run_id, None, f"no MLflow store {walk.uri}"))
        return
    run, params = run_facts(client, walk.run_id, scratch)
    # What the run must have recorded: the packaged model's, else the version's claim.
    # (a BentoML model's metadata keys are plain names, a registry version's are tags)
    keys = ("model_sha256", "fingerprint") if bento else (MODEL_SHA256_TAG, FINGERPRINT_TAG)
    upstream = bento.metadata if bento else (version.tags if version else {})
    sha, fingerprint = (upstream.get(key) for key in keys)
    walk.links += check_run(run, sha, fingerprint)
    if not run.found or run.status != "FINISHED":
        return
    walk.links += check_fingerprint(run)
    walk.links += [check_data(facts) for facts in data_facts(walk.root, run, params)]
    walk.links += check_commit(commit_facts(walk.root, run, params, scratch), run)


def trace(
    root: Path,
    project: ProjectIdentity,
    project_uri: str,
    ref: str,
    served_fingerprint: str | None = None,
) -> Lineage:
    """Walk and verify the chain through `ref` in the project at `root`.

    Raises:
        UnknownRefError: `ref` names no run, registry version or BentoML model.
    """
    parsed = parse_ref(ref)
    walk = _Walk(root=root, project=project, project_uri=project_uri, links=[])
    _start(walk, parsed, served_fingerprint)
    with tempfile.TemporaryDirectory(prefix="reprokit-lineage-") as scratch:
        _down_from_run(walk, Path(scratch))
    return Lineage(ref=ref, links=walk.links)


def trace_project(root: Path, ref: str, served_fingerprint: str | None = None) -> Lineage:
    """`trace` in the project at `root` (params.yaml: project, dataset, tracking store)."""
    from reprokit.config.compose import load_config
    from reprokit.tracking.store import tracking_uri

    config = load_config(root)
    project = project_identity(config.project.name, config.data.name, root)
    return trace(root, project, tracking_uri(config, root), ref, served_fingerprint)
