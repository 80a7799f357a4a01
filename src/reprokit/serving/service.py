"""The BentoML service: `bentoml serve` from the project root (see bentofile.yaml).

`POST /predict` takes `{"records": [{...}, ...]}` and answers with one prediction per
record (class probabilities and label for classifiers, a value for regression) and the
model that made them. Requests are validated with the training schema minus the target;
a violation is a 422 naming field, rule and rows. `/livez`, `/readyz`, `/metrics` are
BentoML's.

Environment (read when the server starts), besides the middleware's (see
`reprokit.serving.middleware`):

- `REPROKIT_MODEL_TAG`: the BentoML model to serve [the `champion` of the MLflow registry
  among the packaged `reprokit-*` models, else the newest one].
- `REPROKIT_REGISTRY`: `0` skips the MLflow registry lookup [1].
- `REPROKIT_MAX_RECORDS`: records per request [10000]; more is a 422.
- `REPROKIT_PREDICT_THREADS`: LightGBM threads per batch [1]; requests already run
  concurrently, so more threads per call mostly oversubscribe the CPU.
"""

from __future__ import annotations

import os
from typing import Any

import bentoml

from reprokit.errors import DataError
from reprokit.serving.bundle import Bundle, predict_frame
from reprokit.serving.middleware import (
    MIDDLEWARE_ORDER,
    MODEL_TAG_HEADER,
    MODEL_VERSION_HEADER,
    SettingsError,
)
from reprokit.serving.request import RequestValidationError, Violation, validate_records
from reprokit.serving.store import load_packaged, resolve_model_tag

UNPROCESSABLE = 422


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name}={raw!r}: expected a whole number >= 1")
    return int(raw)


def _load() -> tuple[Bundle, int]:
    use_registry = os.environ.get("REPROKIT_REGISTRY", "1").lower() not in ("0", "false", "no")
    tag = resolve_model_tag(os.environ.get("REPROKIT_MODEL_TAG"), use_registry=use_registry)
    bundle = load_packaged(tag, num_threads=_int_env("REPROKIT_PREDICT_THREADS", 1))
    return bundle, _int_env("REPROKIT_MAX_RECORDS", 10_000)


@bentoml.service(name="reprokit", traffic={"timeout": 60})
class ReprokitService:
    """Scores records with the packaged pipeline (schema, features, LightGBM model)."""

    def __init__(self) -> None:
        self.bundle, self.max_records = _load()

    @bentoml.api(route="/predict")  # type: ignore[untyped-decorator]
    def predict(self, records: list[dict[str, Any]], ctx: bentoml.Context) -> dict[str, Any]:
        """Predict for a batch of records (the training columns, without the target)."""
        info = self.bundle.info
        ctx.response.headers[MODEL_TAG_HEADER] = info.tag
        if info.model_version is not None:
            ctx.response.headers[MODEL_VERSION_HEADER] = info.model_version
        try:
            frame = validate_records(records, self.bundle.request_spec, self.max_records)
            predictions = predict_frame(self.bundle, frame)
        except RequestValidationError as error:
            ctx.response.status_code = UNPROCESSABLE
            return error.as_dict()
        except DataError as error:  # the feature code refused a value the schema allows
            ctx.response.status_code = UNPROCESSABLE
            return RequestValidationError([Violation(None, "features", str(error))]).as_dict()
        return {"model": info.as_dict(), "predictions": predictions}


_service: Any = ReprokitService  # a bentoml Service object, typed as the class by the decorator
for _middleware in MIDDLEWARE_ORDER:
    _service.add_asgi_middleware(_middleware)
