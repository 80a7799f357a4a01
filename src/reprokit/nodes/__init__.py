"""The built-in node library: pure functions of DataFrames and params (no I/O, no framework).

Layering: modules here import no kedro, mlflow or bentoml.
"""

from reprokit.nodes._common import parse_section, parse_task, preview, require_columns

# The helpers other engines' node implementations share with the built-in nodes.
__all__ = ["parse_section", "parse_task", "preview", "require_columns"]
