"""The built-in node library: pure functions of DataFrames and params (no I/O, no framework).

Layering: modules here import no kedro, mlflow or bentoml.
"""
