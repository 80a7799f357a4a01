"""The BentoML model store side of serving: which packaged model to serve, and loading it.

One project, one namespace. The store is user-global (`~/bentoml` unless BENTOML_HOME
says otherwise), so every clone and dataset on a machine may package into it. A packaged
model carries its project's identity as labels (`reprokit package` sets them): the project
name, the dataset, and the project *instance* (a hash of the resolved project root: two
clones of one repository are two projects). Resolution (`bentoml serve`, `reprokit predict`,
and whatever else calls `resolve_model_tag`) only ever considers this project's models:

1. `REPROKIT_MODEL_TAG` / `--model` when given (the user's explicit choice);
2. else this project's only packaged model for its dataset;
3. else the one of them whose MLflow registry version holds the `champion` alias; when a
   canary rollback retired that version (reprokit.serving.canary), the champion the rolling-
   back worker went on serving (recorded on the version), or an error naming the version and
   the fix when that one is not recorded or not packaged here;
4. else an error naming the candidates and how to choose one.

Why serve the kept champion rather than fail: the other workers and replicas serve it (they
rolled back, or refused the version); a restarted worker that failed would crash-loop until
a person moved the alias, and one that served the alias would serve the model just rolled
back. It never guesses a "previous" version: only the one a rollback recorded.

Inside a built Bento the project root is the Bento's `src/`, another path than the one
that packaged: there, "this project" is the models the Bento was built with (its
bento.yaml), still filtered by project name and dataset.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reprokit.core.names import (
    CHAMPION,
    ROLLBACK_KEPT_TAG,
    ROLLBACK_REASON_TAG,
    ROLLED_BACK,
    ROLLED_BACK_TAG,
)
from reprokit.core.yaml_text import load_yaml
from reprokit.errors import ConfigError, ReprokitError
from reprokit.logs import get_logger
from reprokit.serving.bundle import Bundle, ModelInfo, load_bundle

log = get_logger(__name__)

SQLITE_PREFIX = "sqlite:///"
# Label keys of a packaged model's project identity.
PROJECT_LABEL = "project"
DATA_LABEL = "data"
INSTANCE_LABEL = "project_id"
INSTANCE_ID_LENGTH = 16
# BentoML's rule for the name part of a tag (bentoml._internal.tag.validate_tag_str).
TAG_NAME = re.compile(r"^[a-z0-9]([-._a-z0-9]*[a-z0-9])?$")
TAG_MAX_LENGTH = 63
# A built Bento: <bento>/bento.yaml next to <bento>/src, where the service runs.
BENTO_FILE = "bento.yaml"
CHOOSE = "choose one with `--model TAG` (reprokit predict) or REPROKIT_MODEL_TAG=TAG"


class ModelNotFoundError(ReprokitError, LookupError):
    """No packaged model matches; the message names the tag and what to run."""


class AmbiguousModelError(ModelNotFoundError):
    """Several packaged models of this project fit; the message names them and how to pick."""


class RolledBackChampionError(ModelNotFoundError):
    """The `champion` alias names a rolled-back version and no good one is recorded."""


def model_name(project: str, data: str) -> str:
    """The BentoML model name of a project's dataset (also the default registered model
    name, `tracking.registered_model: ${project.name}-${data.name}`).

    Raises:
        ConfigError: The name is not a valid BentoML tag name.
    """
    name = f"{project}-{data}"
    if len(name) > TAG_MAX_LENGTH or TAG_NAME.match(name) is None:
        raise ConfigError(
            f"BentoML model name {name!r} (`project.name`-`data.name`) is not a valid BentoML "
            f"tag name: lowercase letters, digits and `-_.`, at most {TAG_MAX_LENGTH} "
            "characters; rename `project.name` in conf/config.yaml or `data.name`"
        )
    return name


def project_instance_id(root: Path) -> str:
    """The id of one copy of a project on this machine: a hash of its resolved root path."""
    digest = hashlib.sha256(str(root.resolve()).encode("utf-8")).hexdigest()
    return digest[:INSTANCE_ID_LENGTH]


@dataclass(frozen=True)
class ProjectIdentity:
    """Which packaged models belong to "this project".

    `instance` None and `bento_models` set: inside a built Bento, which holds only the
    models it was built with (their instance id is the building project's)."""

    name: str
    data: str
    root: Path
    instance: str | None
    bento_models: frozenset[str] | None = None

    @property
    def model_name(self) -> str:
        return model_name(self.name, self.data)

    def labels(self) -> dict[str, str]:
        """The labels `reprokit package` puts on a model of this project."""
        labels = {PROJECT_LABEL: self.name, DATA_LABEL: self.data}
        return labels if self.instance is None else {**labels, INSTANCE_LABEL: self.instance}

    def owns(self, tag: str, labels: Mapping[str, str]) -> bool:
        if labels.get(PROJECT_LABEL) != self.name or labels.get(DATA_LABEL) != self.data:
            return False
        if self.bento_models is not None:
            return tag in self.bento_models
        return labels.get(INSTANCE_LABEL) == self.instance

    def describe(self) -> str:
        where = "this Bento" if self.instance is None else f"{self.root.resolve()}"
        return f"project {self.name!r} ({where}), dataset {self.data!r}"


def project_identity(name: str, data: str, root: Path) -> ProjectIdentity:
    """The identity of the project at `root` (a built Bento's `src/` included)."""
    bento = bento_model_tags(root.resolve().parent / BENTO_FILE)
    if bento is not None:
        return ProjectIdentity(name, data, root, instance=None, bento_models=bento)
    return ProjectIdentity(name, data, root, instance=project_instance_id(root))


def bento_model_tags(path: Path) -> frozenset[str] | None:
    """The model tags a Bento was built with (its bento.yaml `models[].tag`); None when
    `path` is no bento.yaml."""
    if not path.is_file():
        return None
    try:
        info = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return None
    if not isinstance(info, dict) or not isinstance(info.get("models"), list):
        return None
    # A service declared with bentoml.models (the new SDK) lists its models under
    # `services[].models`; the top-level `models` is then empty.
    services = info.get("services")
    entries = [
        *info["models"],
        *(
            model
            for service in (services if isinstance(services, list) else [])
            if isinstance(service, dict) and isinstance(service.get("models"), list)
            for model in service["models"]
        ),
    ]
    return frozenset(
        str(item["tag"]) for item in entries if isinstance(item, dict) and item.get("tag")
    )


def _all_models() -> list[Any]:
    """Every model in the store, newest first."""
    import bentoml

    return sorted(bentoml.models.list(), key=lambda m: m.info.creation_time, reverse=True)


def packaged_models(project: ProjectIdentity) -> list[Any]:
    """This project's packaged models of its dataset, newest first."""
    return [m for m in _all_models() if project.owns(str(m.tag), dict(m.info.labels))]


def _registry_uri(metadata: dict[str, Any]) -> str | None:
    """The registry that numbered this model; a SQLite file must exist (MLflow would
    otherwise create and migrate an empty store just to answer "no champion")."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or metadata.get("tracking_uri")
    if not uri:
        return None
    if uri.startswith(SQLITE_PREFIX) and not Path(uri[len(SQLITE_PREFIX) :]).is_file():
        return None
    return str(uri)


@dataclass(frozen=True)
class RegistryVersion:
    """The MLflow registry version a packaged model was registered as."""

    uri: str
    name: str
    version: str


def registered_version(metadata: dict[str, Any]) -> RegistryVersion | None:
    """The registry version of a packaged model's metadata; None if it was not registered."""
    uri, name = _registry_uri(metadata), metadata.get("registered_model")
    version = metadata.get("model_version")
    if uri is None or not name or version is None:
        return None
    return RegistryVersion(uri, str(name), str(version))


@dataclass(frozen=True)
class RolledBack:
    """A version's canary rollback as the registry records it (reprokit.serving.canary)."""

    reason: str
    kept: str | None  # the BentoML tag served instead; None: not recorded (by hand, or older)


def rollback_record(found: RegistryVersion) -> RolledBack | None:
    """The rollback recorded on this version; None if no worker rolled it back."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=found.uri)
    tags = client.get_model_version(found.name, found.version).tags
    if tags.get(ROLLED_BACK_TAG) != ROLLED_BACK:
        return None
    kept = tags.get(ROLLBACK_KEPT_TAG)
    return RolledBack(str(tags.get(ROLLBACK_REASON_TAG, "")), None if kept is None else str(kept))


def _alias_version(uri: str, registered_model: str, alias: str) -> str | None:
    try:
        from mlflow import MlflowClient

        version = MlflowClient(tracking_uri=uri).get_model_version_by_alias(registered_model, alias)
        return str(version.version)
    except Exception as error:  # an unreachable registry (or no such alias) must not stop it
        log.info("serving.alias_not_found", uri=uri, alias=alias, error=str(error)[:200])
        return None


def aliased_models(models: list[Any], alias: str = CHAMPION) -> list[Any]:
    """The packaged models whose registry version holds `alias`, newest first."""
    found: dict[tuple[str, str], str | None] = {}
    holding = []
    for model in models:
        metadata = dict(model.info.metadata)
        uri, name = _registry_uri(metadata), metadata.get("registered_model")
        if uri is None or not name or metadata.get("model_version") is None:
            continue
        if (uri, name) not in found:
            found[(uri, name)] = _alias_version(uri, name, alias)
        if found[(uri, name)] == str(metadata["model_version"]):
            holding.append(model)
    return holding


def describe_model(model: Any) -> str:
    """One candidate, for an error message: tag, registry version, fingerprint, age."""
    metadata = dict(model.info.metadata)
    version = metadata.get("model_version")
    fingerprint = str(metadata.get("fingerprint", "?"))[:12]
    created = model.info.creation_time.strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"{model.tag} (registry version {version or '-'}, fingerprint {fingerprint}, "
        f"packaged {created})"
    )


def _not_found(project: ProjectIdentity) -> ModelNotFoundError:
    others = [m for m in _all_models() if str(m.tag.name) == project.model_name]
    hint = (
        f"; the store holds {len(others)} `{project.model_name}` model(s) of other projects "
        f"or copies ({', '.join(str(m.tag) for m in others[:5])}), never served here"
        if others
        else ""
    )
    return ModelNotFoundError(
        f"no packaged model of {project.describe()} in the BentoML store ({store_hint()})"
        f"{hint}: run `reprokit package` in this project, or {CHOOSE}"
    )


def _one_of(candidates: list[Any], why: str, project: ProjectIdentity, choose: str = CHOOSE) -> Any:
    if len(candidates) == 1:
        return candidates[0]
    listed = "\n  - ".join(describe_model(m) for m in candidates)
    raise AmbiguousModelError(
        f"{len(candidates)} packaged models of {project.describe()} fit and {why}:\n  - "
        f"{listed}\n{choose}"
    )


def _rolled_back(model: Any) -> RolledBack | None:
    """The registry's rollback record of a packaged model; None when none (or no registry
    version, or the registry cannot be read: it has just answered the alias)."""
    found = registered_version(dict(model.info.metadata))
    if found is None:
        return None
    try:
        return rollback_record(found)
    except Exception as error:
        log.info("serving.rollback_unreadable", tag=str(model.tag), error=str(error)[:200])
        return None


def _unless_rolled_back(champion: Any, models: list[Any]) -> Any:
    """`champion`, or the model its rollback kept serving (see the module docstring).

    Raises:
        RolledBackChampionError: It was rolled back and no good model is recorded instead.
    """
    record = _rolled_back(champion)
    if record is None:
        return champion
    kept = next((m for m in models if str(m.tag) == record.kept), None)
    if kept is not None and _rolled_back(kept) is None:
        log.warning(
            "serving.champion_rolled_back",
            champion=str(champion.tag),
            reason=record.reason,
            serving=str(kept.tag),
        )
        return kept
    version = dict(champion.info.metadata).get("model_version")
    instead = (
        f"; the champion kept by the rollback, {record.kept}, is not a good packaged model here"
        if record.kept
        else ""
    )
    raise RolledBackChampionError(
        f"the registry alias `champion` names version {version} ({champion.tag}), which a "
        f"canary rollback retired ({record.reason or 'no reason recorded'}){instead}: move "
        "`champion` to a good version (`reprokit promote VERSION --reason ...`), or "
        f"{CHOOSE}"
    )


def resolve_model_tag(
    explicit: str | None,
    project: ProjectIdentity | None,
    use_registry: bool = True,
    *,
    skip_rolled_back: bool = True,
) -> str:
    """The tag to serve (see the module docstring); `project` None: no params.yaml here.

    `skip_rolled_back` False: the alias's model even when rolled back (the running
    service's refresh, which refuses it itself and must see it to end a ramp of it).

    Raises:
        ModelNotFoundError: No tag given and this project has no packaged model.
        AmbiguousModelError: Several fit and the registry does not single one out.
        RolledBackChampionError: The champion was rolled back and nothing good recorded.
    """
    if explicit:
        return explicit
    if project is None:
        raise ModelNotFoundError(
            "no params.yaml here to tell which project's model to serve: run from the "
            f"project root (or set REPROKIT_PARAMS), or {CHOOSE}"
        )
    models = packaged_models(project)
    if not models:
        raise _not_found(project)
    champions = aliased_models(models) if use_registry and len(models) > 1 else []
    if champions:
        why = "more than one holds the registry alias `champion`"
    elif use_registry:
        why = "none holds the registry alias `champion`"
    else:
        why = "the registry is not asked (REPROKIT_REGISTRY=0)"
    chosen = _one_of(champions or models, why, project)
    if champions and skip_rolled_back:
        chosen = _unless_rolled_back(chosen, models)
    log_resolved(project, str(chosen.tag), champion=bool(champions))
    return str(chosen.tag)


# The tag each project last resolved to in this process. A running service resolves again at
# every refresh (once a second in the canary e2e): only the first resolution (start-up) and
# a change are news. A race between two threads costs at most one extra info line.
_last_resolved: dict[ProjectIdentity, str] = {}


def log_resolved(project: ProjectIdentity, tag: str, *, champion: bool) -> None:
    """`serving.model_resolved`: at info when `project` resolves for the first time in this
    process or to another tag than last time, at debug when a refresh finds the same."""
    changed = _last_resolved.get(project) != tag
    _last_resolved[project] = tag
    emit = log.info if changed else log.debug
    emit("serving.model_resolved", tag=tag, champion=champion)


def resolve_challenger_tag(
    explicit: str | None, alias: str, project: ProjectIdentity | None, use_registry: bool = True
) -> str:
    """The challenger's tag: `explicit`, else this project's packaged model holding the
    registry `alias`.

    Raises:
        ModelNotFoundError: No tag given and no packaged model of this project holds the alias.
        AmbiguousModelError: Several do.
    """
    if explicit:
        return explicit
    models = packaged_models(project) if use_registry and project is not None else []
    holding = aliased_models(models, alias) if models else []
    if not holding:
        raise ModelNotFoundError(
            "serving.challenger: no tag set and no packaged model of "
            f"{project.describe() if project else 'this project'} holds the MLflow registry "
            f"alias {alias!r}: set serving.challenger.tag (or REPROKIT_CHALLENGER_TAG), or "
            "`reprokit package` the version that holds the alias (tracking gives every newly "
            "registered version the `challenger` alias)"
        )
    assert project is not None
    chosen = _one_of(
        holding,
        f"more than one holds the registry alias {alias!r}",
        project,
        "choose one with serving.challenger.tag (or REPROKIT_CHALLENGER_TAG)",
    )
    log.info("serving.challenger_resolved", tag=str(chosen.tag), alias=alias)
    return str(chosen.tag)


def model_info(model: Any) -> ModelInfo:
    metadata = dict(model.info.metadata)
    version = metadata.get("model_version")
    return ModelInfo(
        tag=str(model.tag),
        fingerprint=metadata.get("fingerprint"),
        model_version=None if version is None else str(version),
        mlflow_run_id=metadata.get("mlflow_run_id"),
    )


def load_packaged(tag: str, num_threads: int = 1) -> Bundle:
    """Load a packaged model by tag; a missing tag is a `ModelNotFoundError` naming it."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        model = bentoml.models.get(tag)
    except NotFound:
        raise ModelNotFoundError(
            f"model {tag!r} is not in the BentoML store ({store_hint()}): "
            "run `reprokit package` or set REPROKIT_MODEL_TAG to an existing tag"
        ) from None
    return load_bundle(Path(model.path), model_info(model), dict(model.info.metadata), num_threads)


def store_hint() -> str:
    home = os.environ.get("BENTOML_HOME", str(Path.home() / "bentoml"))
    return f"BENTOML_HOME={home}"
