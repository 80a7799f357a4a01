"""The learners by `model.kind`: a public registry, in the style of Pandera's
`register_backend`. reprokit registers `lightgbm` and `xgboost`; a project registers its
own with `register_model(kind, impl)` in a module it imports, or with an entry point in the
`reprokit.models` group (loaded the first time a kind is not found), so a DVC stage that
only reads params.yaml finds it too.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from reprokit.errors import ConfigError
from reprokit.models.base import Model, Predictor, check_features

ENTRY_POINT_GROUP = "reprokit.models"
DEFAULT_KIND = "lightgbm"

_MODELS: dict[str, Model] = {}
_entry_points_loaded = False


class ModelKindError(ConfigError):
    """`model.kind` names no registered learner, or an artifact is no learner's format."""


def register_model(kind: str, impl: Model) -> None:
    """Make `impl` the learner for `model.kind: <kind>` (replacing an earlier one)."""
    if not kind or kind != kind.strip():
        raise ValueError(f"a model kind must be a non-empty name without spaces, got {kind!r}")
    _MODELS[kind] = impl


def registered_kinds() -> list[str]:
    _load_entry_points()
    return sorted(_MODELS)


def get_model(kind: str) -> Model:
    """The learner registered as `kind`, or an error naming `model.kind` and the kinds."""
    if kind not in _MODELS:
        _load_entry_points()
    try:
        return _MODELS[kind]
    except KeyError:
        raise ModelKindError(
            f"model.kind is {kind!r}, which no learner is registered as; registered kinds: "
            f"{registered_kinds()} (choose one with `model=<kind>`, or register yours with "
            "reprokit.models.register_model)"
        ) from None


def model_for_artifact(artifact: str) -> Model:
    """The learner whose native format `artifact` is."""
    for kind in registered_kinds():
        if _MODELS[kind].recognises(artifact):
            return _MODELS[kind]
    raise ModelKindError(
        f"the model artifact ({len(artifact)} characters, starting {artifact[:20]!r}) is the "
        f"native format of no registered learner; registered kinds: {registered_kinds()}"
    )


def load_model(artifact: str, features: list[str] | None = None) -> Predictor:
    """Load a native model artifact with the learner that recognises it; with `features`,
    check that the model takes exactly those (the feature state's), in order."""
    predictor = model_for_artifact(artifact).load(artifact)
    if features is not None:
        check_features(predictor, features)
    return predictor


def import_learners() -> None:
    """Import every registered learner's library now (a sweep worker warms up with it while
    the parent still works): each `requirement` reads its library's version."""
    for kind in registered_kinds():
        _ = _MODELS[kind].requirement


def _load_entry_points() -> None:
    global _entry_points_loaded  # noqa: PLW0603  # once per process
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for point in entry_points(group=ENTRY_POINT_GROUP):
        impl = point.load()
        register_model(point.name, impl() if isinstance(impl, type) else impl)
