"""evaluate_model and check_quality_gate: metrics, plot tables, figures, gate messages."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from node_data import ID, SPLIT, TARGET, fit, make_frame, model_params

from reprokit.errors import ConfigError, DataError, QualityGateError
from reprokit.nodes.evaluate import check_quality_gate, evaluate_model
from reprokit.nodes.features import transform_features
from reprokit.nodes.split import split_frame
from reprokit.nodes.train import train_model

Prepared = Callable[[str], tuple[dict[str, Any], pd.DataFrame, pd.DataFrame, pd.DataFrame]]
EVALUATION = {"threshold": 0.5, "calibration_bins": 10, "gate": {}}
TABLE_COLUMNS = {
    "roc": ["fpr", "tpr", "threshold"],
    "pr": ["recall", "precision"],
    "calibration": ["mean_predicted", "fraction_positive", "count"],
    "confusion": ["actual", "predicted", "count"],
    "per_class": ["class", "precision", "recall", "f1", "support"],
    "residuals": ["y_true", "y_pred", "residual"],
    "feature_importance": ["feature", "gain", "split"],
}
STEMS = {
    "binary": {"roc", "pr", "calibration", "confusion", "feature_importance"},
    "multiclass": {"confusion", "per_class", "feature_importance"},
    "regression": {"residuals", "feature_importance"},
}
METRICS = {
    "binary": {"roc_auc", "log_loss", "f1", "precision", "recall", "accuracy", "n_test"},
    "multiclass": {
        "log_loss",
        "accuracy",
        "macro_f1",
        "weighted_f1",
        "roc_auc_ovr",
        "n_test",
    },
    "regression": {"rmse", "mae", "r2", "n_test"},
}


def evaluate(
    prepared: Prepared, task: str
) -> tuple[dict[str, float], dict[str, pd.DataFrame], dict[str, Figure], pd.DataFrame]:
    state, train, valid, test = prepared(task)
    model, _ = train_model(train, valid, state, model_params(task), 1)
    metrics, tables, figures = evaluate_model(model, test, state, EVALUATION)
    return metrics, tables, figures, test


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_outputs_have_declared_metrics_tables_and_figures(prepared: Prepared, task: str) -> None:
    metrics, tables, figures, test = evaluate(prepared, task)
    assert set(metrics) == METRICS[task]
    assert metrics["n_test"] == len(test)
    assert all(value == round(value, 6) and math.isfinite(value) for value in metrics.values())
    assert set(tables) == set(figures) == STEMS[task]
    for stem, table in tables.items():
        assert list(table.columns) == TABLE_COLUMNS[stem], stem
        assert not table.empty and table.notna().all().all(), stem
    for stem, figure in figures.items():
        assert isinstance(figure, Figure), stem
        axes = figure.axes[0]
        assert axes.get_title() and axes.get_xlabel() and axes.get_ylabel(), stem
        figure.savefig(io.BytesIO(), format="png")  # renders without pyplot or a GUI


def test_binary_metrics_are_good_on_a_learnable_problem(prepared: Prepared) -> None:
    metrics, tables, figures, test = evaluate(prepared, "binary")
    assert metrics["roc_auc"] > 0.8 and metrics["accuracy"] > 0.75
    assert 0 < metrics["log_loss"] < 0.6
    assert f"{metrics['roc_auc']:.3f}" in figures["roc"].axes[0].get_title()
    roc = tables["roc"]
    assert len(roc) <= 200
    assert roc["fpr"].is_monotonic_increasing and roc["tpr"].is_monotonic_increasing
    assert (roc[["fpr", "tpr"]].iloc[[0, -1]].to_numpy() == [[0, 0], [1, 1]]).all()
    calibration = tables["calibration"]
    assert calibration["count"].sum() == len(test) and len(calibration) <= 10
    assert calibration["mean_predicted"].between(0, 1).all()


def test_binary_figures_carry_their_references_and_the_confusion_matrix(
    prepared: Prepared,
) -> None:
    metrics, tables, figures, test = evaluate(prepared, "binary")
    confusion = tables["confusion"]
    assert confusion["count"].sum() == len(test) and len(confusion) == 4
    correct = confusion.loc[confusion["actual"] == confusion["predicted"], "count"].sum()
    assert correct / len(test) == pytest.approx(metrics["accuracy"])
    legends = {
        stem: [text.get_text() for text in figures[stem].axes[0].get_legend().get_texts()]
        for stem in ("roc", "pr", "calibration")
    }
    positive_rate = f"{test[TARGET].mean():.3f}"
    assert legends["pr"] == ["model", f"no skill (positive rate = {positive_rate})"]
    assert legends["roc"] == ["model", "chance (AUC = 0.5)"]
    assert legends["calibration"] == ["model", "perfectly calibrated"]
    # The rows per bin on the calibration figure's second axis.
    assert figures["calibration"].axes[1].get_ylabel() == "Rows in the bin"


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_the_training_history_adds_a_learning_curve_marking_the_kept_iteration(
    prepared: Prepared, task: str
) -> None:
    state, train, valid, test = prepared(task)
    model, history = train_model(train, valid, state, model_params(task), 1)
    _, tables, figures = evaluate_model(model, test, state, EVALUATION, history)
    curve = tables["learning_curve"]
    assert list(curve.columns) == ["iteration", "valid_metric"]
    assert curve["iteration"].tolist() == list(range(1, history["iterations_trained"] + 1))
    assert curve["valid_metric"].tolist() == history["valid_metric"]
    axes = figures["learning_curve"].axes[0]
    kept = f"kept: iteration {history['best_iteration']}"
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["validation", kept]
    assert history["metric"] in axes.get_title()
    # Without a validation curve (no valid split) there is nothing to draw.
    _, tables, figures = evaluate_model(
        model, test, state, EVALUATION, {**history, "valid_metric": []}
    )
    assert "learning_curve" not in tables and "learning_curve" not in figures


def test_feature_importance_is_sorted_by_gain(prepared: Prepared) -> None:
    state, *_ = prepared("binary")
    _, tables, _, _ = evaluate(prepared, "binary")
    importance = tables["feature_importance"]
    assert sorted(importance["feature"]) == sorted(state["feature_names"])
    assert importance["gain"].is_monotonic_decreasing
    assert importance["feature"].iloc[0] == "x1"  # the signal the target is built on


def test_multiclass_confusion_counts_every_test_row(prepared: Prepared) -> None:
    metrics, tables, _, test = evaluate(prepared, "multiclass")
    assert metrics["accuracy"] > 0.6
    confusion = tables["confusion"]
    assert len(confusion) == 9 and confusion["count"].sum() == len(test)
    assert set(confusion["actual"]) == {"high", "low", "mid"}
    correct = confusion.loc[confusion["actual"] == confusion["predicted"], "count"].sum()
    assert correct / len(test) == pytest.approx(metrics["accuracy"], abs=1e-6)


def test_multiclass_per_class_table_and_one_vs_rest_auc(prepared: Prepared) -> None:
    metrics, tables, _, test = evaluate(prepared, "multiclass")
    per_class = tables["per_class"]
    assert per_class["class"].tolist() == ["high", "low", "mid"]  # the feature state's order
    assert per_class["support"].sum() == len(test)
    # The table's rows are the parts the averaged metrics are made of.
    assert per_class["f1"].mean() == pytest.approx(metrics["macro_f1"], abs=1e-6)
    weights = per_class["support"] / len(test)
    assert (per_class["f1"] * weights).sum() == pytest.approx(metrics["weighted_f1"], abs=1e-6)
    confusion = tables["confusion"]
    for row in per_class.itertuples():
        correct = confusion.query("actual == predicted and actual == @row[1]")["count"].sum()
        assert row.recall == pytest.approx(correct / row.support)
    assert 0.8 < metrics["roc_auc_ovr"] <= 1.0


def test_multiclass_test_split_missing_a_class_is_rejected(prepared: Prepared) -> None:
    state, train, valid, test = prepared("multiclass")
    model, _ = train_model(train, valid, state, model_params("multiclass"), 1)
    code = state["classes"].index("mid")
    without = test[test[TARGET] != code]
    with pytest.raises(DataError, match=r"class\(es\) \['mid'\] of \['high', 'low', 'mid'\]"):
        evaluate_model(model, without, state, EVALUATION)


def test_regression_residuals_are_sampled_deterministically() -> None:
    frame = make_frame("regression", rows=3200)
    train, valid, test = split_frame(frame, {**SPLIT, "test_size": 0.75}, TARGET, "regression", ID)
    state = fit(train, "regression")
    model, _ = train_model(
        transform_features(train, state),
        transform_features(valid, state),
        state,
        model_params("regression"),
        1,
    )
    test_features = transform_features(test, state)
    metrics, tables, _ = evaluate_model(model, test_features, state, EVALUATION)
    again = evaluate_model(model, test_features, state, EVALUATION)[1]
    residuals = tables["residuals"]
    assert len(test) == 2400 and 1900 < len(residuals) <= 2000
    pd.testing.assert_frame_equal(residuals, again["residuals"])
    np.testing.assert_allclose(residuals["residual"], residuals["y_true"] - residuals["y_pred"])
    assert metrics["r2"] > 0.5


def test_single_class_test_split_is_rejected(prepared: Prepared) -> None:
    state, train, valid, test = prepared("binary")
    model, _ = train_model(train, valid, state, model_params("binary"), 1)
    negatives = test[test[TARGET] == 0]
    with pytest.raises(DataError, match=r"\d+ negative and 0 positive row\(s\)"):
        evaluate_model(model, negatives, state, EVALUATION)


def test_model_and_state_must_name_the_same_features(prepared: Prepared) -> None:
    state, train, valid, test = prepared("binary")
    model, _ = train_model(train, valid, state, model_params("binary"), 1)
    state["feature_names"] = list(reversed(state["feature_names"]))
    with pytest.raises(DataError, match="expected the same list"):
        evaluate_model(model, test, state, EVALUATION)


def test_gate_passes_when_every_bound_holds() -> None:
    check_quality_gate({"roc_auc": 0.9, "log_loss": 0.3}, {"roc_auc": {"min": 0.7}})
    check_quality_gate({"rmse": 1.0}, {"rmse": {"min": 0.5, "max": 1.0}})


def test_gate_lists_every_failed_metric_with_value_and_bound() -> None:
    metrics = {"roc_auc": 0.65, "log_loss": 0.9, "f1": 0.8}
    gate: dict[str, dict[str, float | None]] = {
        "roc_auc": {"min": 0.7},
        "log_loss": {"max": 0.5, "min": None},
        "f1": {"min": 0.5},
    }
    with pytest.raises(QualityGateError) as raised:
        check_quality_gate(metrics, gate)
    message = str(raised.value)
    assert "2 of 3 bound(s)" in message
    assert "roc_auc = 0.65 is below min 0.7" in message
    assert "log_loss = 0.9 is above max 0.5" in message
    assert "f1" not in message


def test_gate_naming_an_absent_metric_fails_with_available_ones() -> None:
    with pytest.raises(QualityGateError, match=r"r2: not among .*\['mae', 'rmse'\]"):
        check_quality_gate({"rmse": 1.0, "mae": 0.5}, {"r2": {"min": 0.2}})


def test_gate_fails_on_nan() -> None:
    with pytest.raises(QualityGateError, match="nan is below min"):
        check_quality_gate({"r2": float("nan")}, {"r2": {"min": 0.2}})


def test_gate_bound_without_min_or_max_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"evaluation\.gate\.r2"):
        check_quality_gate({"r2": 0.5}, {"r2": {"min": None}})
