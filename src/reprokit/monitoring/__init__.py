"""Monitoring against the training reference: drift statistics, data quality, delayed-label
performance, the `reprokit monitor` report, and the service's live drift window.

Layering: imports nodes and schemas (like serving), never kedro; mlflow only lazily in the
command path (`reference.py`).
"""
