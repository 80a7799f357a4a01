"""Pandera schemas built from the declarative schema in `conf/data/*.yaml`.

One schema everywhere: the catalog validates training data with it, and serving validates
requests with the same schema minus the target. Imports no kedro/mlflow/bentoml.
"""

from reprokit.schemas.build import build_schema, request_schema_spec
from reprokit.schemas.validator import SchemaValidator, summarize_failures

__all__ = ["SchemaValidator", "build_schema", "request_schema_spec", "summarize_failures"]
