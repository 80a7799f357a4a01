"""The nodes chained as the pipeline declares them: split -> fit -> transform -> train -> evaluate.

Every hand-off goes through the format the catalog stores (JSON state, text model), so a
node relying on something the catalog would not keep fails here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from node_data import GROUP, ID, SPLIT, TARGET, TIMESTAMP, fit, make_frame, model_params

from reprokit.nodes.evaluate import check_quality_gate, evaluate_model
from reprokit.nodes.features import transform_features
from reprokit.nodes.split import split_frame
from reprokit.nodes.train import train_model

GATES: dict[str, dict[str, dict[str, float | None]]] = {
    "binary": {"roc_auc": {"min": 0.8}},
    "multiclass": {"accuracy": {"min": 0.6}},
    "regression": {"r2": {"min": 0.5}},
}


@pytest.mark.parametrize(
    ("task", "split"),
    [
        ("binary", {"kind": "stratified"}),
        ("binary", {"kind": "stratified", "valid_size": 0.0}),  # empty valid: no early stop
        ("multiclass", {"kind": "group", "column": GROUP}),
        ("regression", {"kind": "time", "column": TIMESTAMP}),
    ],
)
def test_pipeline_chain(task: str, split: dict[str, Any]) -> None:
    frame = make_frame(task, rows=900)
    train, valid, test = split_frame(frame, {**SPLIT, **split}, TARGET, task, ID)
    state = json.loads(json.dumps(fit(train, task)))
    features = [transform_features(part, state) for part in (train, valid, test)]
    model, history = train_model(features[0], features[1], state, model_params(task), 0)
    model = model.encode().decode()  # the catalog stores plain text
    json.dumps(history)
    evaluation = {"threshold": 0.5, "calibration_bins": 10, "gate": GATES[task]}
    metrics, tables, figures = evaluate_model(model, features[2], state, evaluation)
    assert metrics["n_test"] == len(test)
    assert "feature_importance" in tables and set(tables) == set(figures)
    json.dumps(metrics)
    check_quality_gate(metrics, GATES[task])
