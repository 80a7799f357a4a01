"""Tracking: fingerprints, per-stage records, and one MLflow run per pipeline execution.

`fingerprint` and `recorder` import no mlflow; everything that talks to MLflow lives in
`store` and is imported lazily (importing mlflow costs seconds).
"""
