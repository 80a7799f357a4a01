"""Monitoring against the training reference: `reprokit monitor`'s Evidently report and tests
(drift, data quality, delayed-label performance) and the service's live drift window.

Layering: imports nodes and schemas (like serving), never kedro; mlflow only lazily in the
command path (`reference.py`).
"""
