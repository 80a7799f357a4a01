"""The service's OpenAPI document, typed from the served model's request schema.

BentoML generates `/docs.json` from the API's Python signature, which here is
`records: list[dict[str, Any]]`: the record fields, their types and bounds, and the service's
own error responses (401, 408, 413, 415, 422, 429, 431, 504) were all missing. BentoML 1.4
has no API to replace its document (only its private `Service.openapi_spec` property;
bentoml/BentoML#2975 asks for one), so `OpenApiMiddleware` answers `GET /docs.json` with this
one, built from the same `SchemaSpec` the requests are validated with (one schema).

The document says exactly what the service accepts, so that a schema-driven fuzzer can hold
the service to it: a record's fields with their JSON types, bounds (`ge`/`gt`/`le`/`lt`),
allowed values (`isin`), nullability and the strict ISO 8601 form of timestamps; integers
are bounded by int64 and numbers by float64 (what the typed columns hold). One rule JSON
Schema cannot say: a `unique` field's values must differ across the records of a request;
it is stated in the field's description and as `x-reprokit-unique`. The body is
`{"records": [Record, ...]}` or the same rows as `{"columns": {field: [value, ...]}}`
(`oneOf`); that every column holds one value per row is stated the same way
(`x-reprokit-same-length`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from reprokit.config.models import ColumnSpec, SchemaSpec
from reprokit.serving.asgi import send_json
from reprokit.serving.bundle import Bundle
from reprokit.serving.request import TIMESTAMP_PATTERN, column_kind

DOCS_PATH = "/docs.json"
OPENAPI_VERSION = "3.0.3"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FLOAT64_MAX = 1.7976931348623157e308
_REF = "#/components/schemas/{}"
_SECURITY: list[dict[str, list[str]]] = [{"apiKey": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name)}


def _number_bounds(column: ColumnSpec) -> dict[str, Any]:
    """JSON Schema bounds of a float column (OpenAPI 3.0: boolean exclusive flags)."""
    bounds: dict[str, Any] = {"minimum": -FLOAT64_MAX, "maximum": FLOAT64_MAX}
    if column.ge is not None or column.gt is not None:
        low = max(value for value in (column.ge, column.gt) if value is not None)
        bounds["minimum"] = low
        if column.gt is not None and column.gt == low:
            bounds["exclusiveMinimum"] = True
    if column.le is not None or column.lt is not None:
        high = min(value for value in (column.le, column.lt) if value is not None)
        bounds["maximum"] = high
        if column.lt is not None and column.lt == high:
            bounds["exclusiveMaximum"] = True
    return bounds


def _integer_bounds(column: ColumnSpec) -> dict[str, int]:
    """Integer bounds: the schema's, made inclusive, within int64."""
    low, high = INT64_MIN, INT64_MAX
    if column.ge is not None:
        low = max(low, math.ceil(column.ge))
    if column.gt is not None:
        low = max(low, math.floor(column.gt) + 1)
    if column.le is not None:
        high = min(high, math.floor(column.le))
    if column.lt is not None:
        high = min(high, math.ceil(column.lt) - 1)
    return {"minimum": low, "maximum": high}


def column_schema(name: str, column: ColumnSpec) -> dict[str, Any]:
    """The JSON Schema of one record field, as the service validates it."""
    kind = column_kind(column)
    schema: dict[str, Any]
    if kind == "integer":
        # A null cannot be held by an int64 column: refused whatever `nullable` says.
        schema = {"type": "integer", "format": "int64", **_integer_bounds(column)}
    elif kind == "number":
        schema = {"type": "number", "format": "double", **_number_bounds(column)}
    elif kind == "string":
        schema = {"type": "string"}
    elif kind == "boolean":
        schema = {"type": "boolean"}  # never null, as for integers
    elif kind == "timestamp":
        schema = {
            "type": "string",
            "pattern": f"^{TIMESTAMP_PATTERN}$",
            "description": "ISO 8601 date or timestamp, no time zone, years 1678 to 2261",
        }
    else:  # a dtype JSON cannot express: Pandera judges the value
        schema = {}
    if column.isin is not None:
        schema["enum"] = list(column.isin)
    if kind in ("number", "string", "timestamp") and column.nullable:
        schema["nullable"] = True
    if column.unique:
        schema["x-reprokit-unique"] = True
        schema["description"] = (
            f"{schema.get('description', name)}; unique across the request's records"
        )
    schema["title"] = name
    return schema


def record_schema(spec: SchemaSpec) -> dict[str, Any]:
    """One record: every schema column is required (null for a missing value where allowed);
    other fields are refused when the schema is strict, ignored otherwise."""
    return {
        "type": "object",
        "properties": {name: column_schema(name, column) for name, column in spec.columns.items()},
        "required": list(spec.columns),
        "additionalProperties": spec.strict is not True,
    }


def columns_schema(spec: SchemaSpec, max_records: int) -> dict[str, Any]:
    """The columnar body's `columns`: per record field, its values in row order."""
    record = record_schema(spec)
    return {
        **record,
        "properties": {
            name: {
                "type": "array",
                "items": field,
                "minItems": 1,
                "maxItems": max_records,
                "title": name,
            }
            for name, field in record["properties"].items()
        },
        "description": "the records' fields as columns: row i is every column's i-th value; "
        "each column holds one value per row",
        "x-reprokit-same-length": True,
    }


def prediction_schema(bundle: Bundle) -> dict[str, Any]:
    """One prediction: a value (regression), or class probabilities and the label."""
    state = bundle.state
    if state.task == "regression" or state.classes is None:
        return _object({"value": {"type": "number"}})
    labels = {str(label): {"type": "number", "minimum": 0, "maximum": 1} for label in state.classes}
    return _object(
        {
            "probabilities": _object(labels),
            "label": {"enum": list(state.classes)},
        }
    )


def _object(properties: Mapping[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": dict(properties),
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": "string", "nullable": True}
_COUNT = {"type": "integer", "minimum": 0}


def _request_schemas(
    bundle: Bundle, max_records: int, entity_key: str | None
) -> dict[str, dict[str, Any]]:
    """`PredictRequest`: the records themselves, the same rows as columns, or (when the
    service has an online feature store, keyed by `entity_key`) the ids of entities whose
    records it holds (reprokit.serving.entities); one schema per body."""

    def items(name: str, item: dict[str, Any]) -> dict[str, Any]:
        return _object(
            {name: {"type": "array", "items": item, "minItems": 1, "maxItems": max_records}}
        )

    bodies = {
        "RecordsRequest": items("records", _ref("Record")),
        "ColumnsRequest": _object({"columns": columns_schema(bundle.request_spec, max_records)}),
    }
    if entity_key is not None:
        # The key as the store holds it: an int64 for an integer id column, else a string
        # (reprokit.serving.entities refuses anything else with a 422).
        id_spec = bundle.request_spec.columns.get(entity_key)
        integer_ids = id_spec is None or column_kind(id_spec) == "integer"
        key = {"type": "integer", "format": "int64", "minimum": INT64_MIN, "maximum": INT64_MAX}
        entity = _object({entity_key: key if integer_ids else _STRING})
        bodies["EntitiesRequest"] = items("entities", entity)
    return {"PredictRequest": {"oneOf": [_ref(name) for name in bodies]}, **bodies}


def _components(bundle: Bundle, max_records: int, entity_key: str | None = None) -> dict[str, Any]:
    violation = _object(
        {
            "field": _NULLABLE_STRING,
            "rule": _STRING,
            "message": _STRING,
            "rows": {"type": "array", "items": _COUNT},
            "row_count": _COUNT,
        },
        optional=("rows", "row_count"),
    )
    return {
        "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Record": record_schema(bundle.request_spec),
            **_request_schemas(bundle, max_records, entity_key),
            "Prediction": prediction_schema(bundle),
            "PredictResponse": _object(
                {
                    "model": _object(
                        {
                            "tag": _STRING,
                            "fingerprint": _NULLABLE_STRING,
                            "model_version": _NULLABLE_STRING,
                            "mlflow_run_id": _NULLABLE_STRING,
                            "role": {"type": "string", "enum": ["champion", "challenger"]},
                        }
                    ),
                    "input": {"type": "string", "enum": ["records", "columns", "entities"]},
                    "predictions": {"type": "array", "items": _ref("Prediction")},
                }
            ),
            "Error": {
                "type": "object",
                "properties": {"error": _STRING},
                "required": ["error"],
            },
            "Violation": violation,
            # Ours (duplicate key, not an object: `violations`) or BentoML's (JSON it cannot
            # read, `records` not a list of objects: `detail`, pydantic's errors).
            "BadRequest": {
                "type": "object",
                "properties": {
                    "error": _STRING,
                    "violations": {"type": "array", "items": _ref("Violation")},
                    "detail": {"type": "array"},
                },
                "required": ["error"],
            },
            "Unprocessable": {
                "type": "object",
                "properties": {
                    "error": _STRING,
                    "violations": {"type": "array", "items": _ref("Violation")},
                    "violation_count": _COUNT,
                    "truncated": _STRING,
                },
                "required": ["error", "violations"],
                "additionalProperties": False,
            },
        },
    }


def _json(schema: str, description: str, headers: Mapping[str, Any] | None = None) -> Any:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema)}},
    }
    if headers:
        response["headers"] = dict(headers)
    return response


def _header(description: str, required: bool = False) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": _STRING}


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": _STRING}}}


_MODEL_HEADERS = {
    "x-reprokit-model-tag": _header("the BentoML tag of the model that answered", True),
    "x-reprokit-model-role": _header("champion or challenger", True),
    "x-reprokit-model-version": _header("its MLflow registry version"),
    "x-reprokit-model-fingerprint": _header("its run's fingerprint"),
    "x-reprokit-model-run-id": _header("the MLflow run that produced it"),
    "x-request-id": _header("the request's id (the caller's if valid, else generated)"),
}
_PREDICT_ERRORS = {
    "400": _json(
        "BadRequest",
        "not JSON, a duplicate key, or not {'records': [objects]} / {'columns': {field: [values]}}",
    ),
    "401": _json("Error", "missing or invalid API key"),
    "408": _json("Error", "the body did not arrive within the body timeout"),
    "413": _json("Error", "the body is over the size limit"),
    "415": _json("Error", "the body is not application/json"),
    "422": _json(
        "Unprocessable",
        "the records break the model's input schema, columns of unequal lengths, both or "
        "neither of records and columns, or an unknown top-level field: the first violations "
        "(field, rule, rows) and their count",
    ),
    "429": _json(
        "Error",
        "rate limit, or too many failed API keys from this address",
        {"retry-after": {"description": "seconds", "schema": {"type": "integer"}}},
    ),
    "431": _json("Error", "the request line and headers are over their size or count limit"),
    "504": _json("Error", "no response within the request timeout (the work is stopped)"),
}


def openapi_document(
    bundle: Bundle, max_records: int, entity_key: str | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the service serving `bundle`."""
    info = bundle.info
    probe = {"security": [], "responses": {"200": _text("ok"), "503": _text("not yet")}}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "reprokit",
            "version": info.model_version or info.tag,
            "description": f"Predictions of {info.tag} for records of its training schema.",
        },
        "components": _components(bundle, max_records, entity_key),
        "paths": {
            "/predict": {
                "post": {
                    "operationId": "predict",
                    "security": _SECURITY,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("PredictRequest")}},
                    },
                    "responses": {
                        "200": _json(
                            "PredictResponse", "one prediction per record", _MODEL_HEADERS
                        ),
                        **_PREDICT_ERRORS,
                    },
                }
            },
            "/livez": {"get": {"operationId": "livez", **probe}},
            "/readyz": {"get": {"operationId": "readyz", **probe}},
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "security": [],
                    "responses": {"200": _text("Prometheus metrics")},
                }
            },
        },
    }


class OpenApiMiddleware:
    """Answers `GET /docs.json` with `document()` (None until the service has loaded its
    model: BentoML's own document until then)."""

    def __init__(self, app: ASGIApp, document: Callable[[], dict[str, Any] | None]) -> None:
        self.app = app
        self.document = document

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == DOCS_PATH and scope["method"] == "GET":
            document = self.document()
            if document is not None:
                await send_json(send, 200, document)
                return
        await self.app(scope, receive, send)
