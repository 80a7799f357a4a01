"""The BentoML model store side of serving: which packaged model to serve, and loading it.

Resolution order: `REPROKIT_MODEL_TAG` when set; else the newest `reprokit-*` model whose
MLflow registry version carries the `champion` alias (when that registry is reachable);
else the newest `reprokit-*` model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from reprokit.errors import ReprokitError
from reprokit.logs import get_logger
from reprokit.serving.bundle import Bundle, ModelInfo, load_bundle

log = get_logger(__name__)

MODEL_PREFIX = "reprokit-"
CHAMPION = "champion"
SQLITE_PREFIX = "sqlite:///"


class ModelNotFoundError(ReprokitError, LookupError):
    """No packaged model matches; the message names the tag and what to run."""


def model_name(data_name: str) -> str:
    return f"{MODEL_PREFIX}{data_name}"


def packaged_models() -> list[Any]:
    """Every `reprokit-*` model in the store, newest first."""
    import bentoml

    models = [m for m in bentoml.models.list() if m.tag.name.startswith(MODEL_PREFIX)]
    return sorted(models, key=lambda m: m.info.creation_time, reverse=True)


def _registry_uri(metadata: dict[str, Any]) -> str | None:
    """The registry that numbered this model; a SQLite file must exist (MLflow would
    otherwise create and migrate an empty store just to answer "no champion")."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or metadata.get("tracking_uri")
    if not uri:
        return None
    if uri.startswith(SQLITE_PREFIX) and not Path(uri[len(SQLITE_PREFIX) :]).is_file():
        return None
    return str(uri)


def _alias_version(uri: str, registered_model: str, alias: str) -> str | None:
    try:
        from mlflow import MlflowClient

        version = MlflowClient(tracking_uri=uri).get_model_version_by_alias(registered_model, alias)
        return str(version.version)
    except Exception as error:  # an unreachable registry (or no such alias) must not stop it
        log.info("serving.alias_not_found", uri=uri, alias=alias, error=str(error)[:200])
        return None


def aliased_model(models: list[Any], alias: str = CHAMPION) -> Any | None:
    """The newest packaged model whose registry version holds `alias`, if any."""
    found: dict[tuple[str, str], str | None] = {}
    for model in models:
        metadata = dict(model.info.metadata)
        uri, name = _registry_uri(metadata), metadata.get("registered_model")
        if uri is None or not name or metadata.get("model_version") is None:
            continue
        if (uri, name) not in found:
            found[(uri, name)] = _alias_version(uri, name, alias)
        if found[(uri, name)] == str(metadata["model_version"]):
            return model
    return None


def resolve_model_tag(explicit: str | None, use_registry: bool = True) -> str:
    """The tag to serve (see the module docstring)."""
    if explicit:
        return explicit
    models = packaged_models()
    if not models:
        raise ModelNotFoundError(
            f"no `{MODEL_PREFIX}*` model in the BentoML store: run `reprokit package` first"
        )
    champion = aliased_model(models) if use_registry else None
    chosen = champion or models[0]
    log.info("serving.model_resolved", tag=str(chosen.tag), champion=champion is not None)
    return str(chosen.tag)


def resolve_challenger_tag(explicit: str | None, alias: str, use_registry: bool = True) -> str:
    """The challenger's tag: `explicit`, else the packaged model holding the registry `alias`.

    Raises:
        ModelNotFoundError: No tag given and no packaged model holds the alias.
    """
    if explicit:
        return explicit
    models = packaged_models() if use_registry else []
    chosen = aliased_model(models, alias) if models else None
    if chosen is None:
        raise ModelNotFoundError(
            f"serving.challenger: no tag set and no packaged `{MODEL_PREFIX}*` model holds the "
            f"MLflow registry alias {alias!r}: set serving.challenger.tag (or "
            "REPROKIT_CHALLENGER_TAG), or `reprokit package` the version that holds the alias "
            "(tracking gives every newly registered version the `challenger` alias)"
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
            f"model {tag!r} is not in the BentoML store ({_store_hint()}): "
            "run `reprokit package` or set REPROKIT_MODEL_TAG to an existing tag"
        ) from None
    return load_bundle(Path(model.path), model_info(model), dict(model.info.metadata), num_threads)


def _store_hint() -> str:
    home = os.environ.get("BENTOML_HOME", str(Path.home() / "bentoml"))
    return f"BENTOML_HOME={home}"
