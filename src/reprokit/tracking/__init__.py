"""Tracking: per-stage records and one MLflow run per pipeline execution (the fingerprint it
records is computed by reprokit.core.content).

`recorder` imports no mlflow; everything that talks to MLflow lives in
`store` and is imported lazily (importing mlflow costs seconds).
"""
