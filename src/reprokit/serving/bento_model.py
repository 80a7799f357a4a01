"""The model `bentoml build` packs into the Bento: the project's champion, by resolution.

`bentoml build` takes the models listed in bentofile.yaml, else the models the service
class declares (`bentoml.models.BentoModel` class attributes), read when the build imports
the service module. A fixed `models:` entry can only name a tag or `:latest` (the newest
package, champion or not; issue 11), so bentofile.yaml lists none and the service declares
the model it would serve now: `REPROKIT_MODEL_TAG` when set, else the packaged model whose
MLflow registry version holds the `champion` alias, among this project's packaged models of
its dataset only (reprokit.serving.store). The same module imported inside the
Bento (no registry there) declares nothing: the Bento's store holds the one model it packed.
"""

from __future__ import annotations

from typing import Any

from reprokit.logs import get_logger
from reprokit.serving.config import ServingSettings, checked_settings, load_project_identity
from reprokit.serving.store import aliased_models, packaged_models

log = get_logger(__name__)


def declared_model() -> Any | None:
    """The `BentoModel` of the model to pack, or None when no champion is packaged."""
    import bentoml

    # Checked here, on import, as the first reader of the settings: a bad value stops the
    # server or build with its message, not a traceback (the deployment hook comes later).
    settings, _ = checked_settings()
    tag = settings.model_tag or _champion_tag(settings)
    if tag is None:
        log.info(
            "serving.no_champion_declared",
            detail="no packaged model holds the registry's `champion` alias: `bentoml build` "
            "packs no model; `reprokit package` the champion or set REPROKIT_MODEL_TAG",
        )
        return None
    return bentoml.models.BentoModel(tag)


def _champion_tag(settings: ServingSettings) -> str | None:
    """This project's packaged champion (newest first if packaged twice), if any."""
    project = load_project_identity(settings)
    if project is None:
        return None
    champions = aliased_models(packaged_models(project))
    return str(champions[0].tag) if champions else None
