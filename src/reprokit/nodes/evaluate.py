"""Evaluate the model on the test split: metrics, plot tables for `dvc plots`, figures,
and the quality gate that fails a run whose metrics miss their declared bounds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from reprokit.config.models import EvaluationConfig, GateBound
from reprokit.errors import DataError, QualityGateError
from reprokit.models import Predictor
from reprokit.nodes._common import parse_section, require_rows
from reprokit.nodes.features import FeatureState, model_inputs, parse_state
from reprokit.nodes.scoring import loaded_model, predict

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
else:
    # kedro-viz reads a node's annotations at run time (typing.get_type_hints): `Figure`
    # must resolve without importing matplotlib, which the node loads only when it draws.
    Figure = Any

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]

METRIC_DECIMALS = 6
MAX_CURVE_POINTS = 200
MAX_RESIDUAL_POINTS = 2000
MAX_IMPORTANCE_BARS = 20
KEY_METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
DATASET = "test features"
LEARNING_CURVE = "learning_curve"  # the table's and the figure's stem


@dataclass
class _Report:
    """What one task's evaluation produces (metrics unrounded until the end)."""

    metrics: dict[str, float]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)


def evaluate_model(
    model: str,
    test: pd.DataFrame,
    state: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    history: Mapping[str, Any] | None = None,
) -> tuple[dict[str, float], dict[str, pd.DataFrame], dict[str, Figure]]:
    """Score the model on the transformed test split.

    Args:
        model: The model in its learner's native text format.
        test: Transformed test split (`transform_features` output, with the target).
        state: The fitted feature state.
        evaluation: The `evaluation` params section (`EvaluationConfig`).
        history: The training history (`train_model`'s), for the learning curve; optional,
            so a pipeline that does not bind it evaluates as before.

    Returns:
        Metrics rounded to 6 decimals plus `n_test`; plot tables keyed by file stem
        (`roc`, `pr`, `calibration` for binary, `confusion` and `per_class` for
        multiclass, `residuals` for regression, `feature_importance` always,
        `learning_curve` when the history has a validation curve); one figure per table,
        same stems.

    Raises:
        DataError: The test split is empty, lacks a column, has too few classes for the
            metrics (binary: both; multiclass: every class), or does not match the
            model's features.
    """
    fitted = parse_state(state)
    config = parse_section(EvaluationConfig, evaluation, "evaluation")
    require_rows(test, DATASET)
    features, labels = model_inputs(test, fitted, DATASET)
    predictor = loaded_model(model, fitted.feature_names)
    predictions = predict(model, fitted.feature_names, features)
    metrics, tables, figures = score_predictions(labels, predictions, predictor, fitted, config)
    add_learning_curve(tables, figures, history)
    return metrics, tables, figures


def add_learning_curve(
    tables: dict[str, pd.DataFrame], figures: dict[str, Figure], history: Mapping[str, Any] | None
) -> None:
    """The `learning_curve` table and figure from a training history, when it has a
    validation curve (a model trained without a validation split has none)."""
    curve = learning_curve_table(history or {})
    if curve.empty:
        return
    assert history is not None
    tables[LEARNING_CURVE] = curve
    figures[LEARNING_CURVE] = _learning_curve_figure(
        curve, str(history.get("metric", "validation metric")), int(history["best_iteration"])
    )


def score_predictions(
    labels: np.ndarray[Any, Any],
    predictions: FloatArray,
    predictor: Predictor,
    fitted: FeatureState,
    config: EvaluationConfig,
) -> tuple[dict[str, float], dict[str, pd.DataFrame], dict[str, Figure]]:
    """`evaluate_model`'s metrics, tables and figures from the test labels and the model's
    predictions, however they were computed (in this process, or per Dask partition)."""
    if fitted.task == "binary":
        report = _binary_report(labels.astype(np.int64), predictions, config)
    elif fitted.task == "multiclass":
        report = _multiclass_report(labels.astype(np.int64), predictions, fitted)
    else:
        report = _regression_report(labels.astype(np.float64), predictions)

    key = KEY_METRIC[fitted.task]
    importance = _feature_importance(predictor)
    report.tables["feature_importance"] = importance
    report.figures["feature_importance"] = _importance_figure(importance, key, report.metrics[key])
    metrics: dict[str, float] = {
        name: round(float(value), METRIC_DECIMALS) for name, value in report.metrics.items()
    }
    metrics["n_test"] = len(labels)
    return metrics, report.tables, report.figures


def check_quality_gate(
    metrics: Mapping[str, float], gate: Mapping[str, Mapping[str, float | None]]
) -> None:
    """Raise `QualityGateError` listing every metric that misses its `min`/`max` bound.

    A gate naming a metric that `metrics` lacks fails too: a silently skipped gate would
    pass a model nobody checked.
    """
    bounds = {
        name: parse_section(GateBound, bound, f"evaluation.gate.{name}")
        for name, bound in gate.items()
    }
    failures: list[str] = []
    for name, bound in bounds.items():
        if name not in metrics:
            failures.append(
                f"{name}: not among the computed metrics (available: {sorted(metrics)})"
            )
            continue
        value = float(metrics[name])
        # NaN compares false with everything, so test the passing condition, negated.
        if bound.min is not None and not value >= bound.min:
            failures.append(f"{name} = {value} is below min {bound.min}")
        if bound.max is not None and not value <= bound.max:
            failures.append(f"{name} = {value} is above max {bound.max}")
    if failures:
        raise QualityGateError(
            f"quality gate failed for {len(failures)} of {len(bounds)} bound(s): "
            + "; ".join(failures)
        )


# --- tasks --------------------------------------------------------------------------------


def _binary_report(labels: IntArray, scores: FloatArray, config: EvaluationConfig) -> _Report:
    from sklearn import metrics as skm

    counts = np.bincount(labels, minlength=2)
    if (counts == 0).any():
        raise DataError(
            f"{DATASET}: the target has {counts[0]} negative and {counts[1]} positive "
            "row(s); expected both classes (ROC AUC is undefined otherwise)"
        )
    predicted = (scores >= config.threshold).astype(np.int64)
    report = _Report(
        metrics={
            "roc_auc": skm.roc_auc_score(labels, scores),
            "log_loss": skm.log_loss(labels, scores, labels=[0, 1]),
            "f1": skm.f1_score(labels, predicted, zero_division=0),
            "precision": skm.precision_score(labels, predicted, zero_division=0),
            "recall": skm.recall_score(labels, predicted, zero_division=0),
            "accuracy": skm.accuracy_score(labels, predicted),
        }
    )
    fpr, tpr, thresholds = skm.roc_curve(labels, scores)
    # sklearn's first threshold is +inf ("nothing is positive"); 1.0 says the same for
    # probabilities and stays a plain number in CSV and JSON.
    thresholds = np.where(np.isfinite(thresholds), thresholds, 1.0)
    keep = _thin(len(fpr), MAX_CURVE_POINTS)
    roc = pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep], "threshold": thresholds[keep]})
    precision, recall, _ = skm.precision_recall_curve(labels, scores)
    keep = _thin(len(recall), MAX_CURVE_POINTS)
    pr = pd.DataFrame({"recall": recall[keep], "precision": precision[keep]})
    calibration = _calibration_table(labels, scores, config.calibration_bins)
    average_precision = float(skm.average_precision_score(labels, scores))

    report.tables.update(roc=roc, pr=pr, calibration=calibration)
    report.figures.update(
        roc=_roc_figure(roc, report.metrics["roc_auc"]),
        pr=_pr_figure(pr, average_precision, positive_rate=float(labels.mean())),
        calibration=_calibration_figure(calibration, report.metrics["log_loss"]),
    )
    _add_confusion(
        report, labels, predicted, classes=[0, 1], title=f"at threshold {config.threshold:g}"
    )
    return report


def _add_confusion(
    report: _Report, labels: IntArray, predicted: IntArray, classes: list[Any], title: str
) -> None:
    """The confusion matrix as a table (one row per cell, with its count) and a figure."""
    from sklearn import metrics as skm

    matrix = skm.confusion_matrix(labels, predicted, labels=list(range(len(classes))))
    names = np.asarray(classes, dtype=object)
    report.tables["confusion"] = pd.DataFrame(
        {
            "actual": np.repeat(names, len(classes)),
            "predicted": np.tile(names, len(classes)),
            "count": matrix.ravel().astype(np.int64),
        }
    )
    report.figures["confusion"] = _confusion_figure(
        matrix, [str(name) for name in classes], report.metrics["accuracy"], title
    )


def _multiclass_report(labels: IntArray, scores: FloatArray, state: FeatureState) -> _Report:
    from sklearn import metrics as skm

    classes = list(state.classes or [])
    if scores.ndim != 2 or scores.shape[1] != len(classes):
        raise DataError(
            f"the model predicts {scores.shape} scores for {DATASET}; expected one column "
            f"per class of the feature state ({len(classes)}: {classes})"
        )
    codes = list(range(len(classes)))
    counts = np.bincount(labels, minlength=len(classes))
    if (counts == 0).any():
        absent = [classes[code] for code in codes if counts[code] == 0]
        raise DataError(
            f"{DATASET}: class(es) {absent} of {classes} have no row; expected every class "
            "(one-vs-rest ROC AUC is undefined otherwise): use a stratified split or more rows"
        )
    predicted = scores.argmax(axis=1)
    report = _Report(
        metrics={
            "log_loss": skm.log_loss(labels, scores, labels=codes),
            "accuracy": skm.accuracy_score(labels, predicted),
            "macro_f1": skm.f1_score(labels, predicted, average="macro", zero_division=0),
            "weighted_f1": skm.f1_score(labels, predicted, average="weighted", zero_division=0),
            # Each class against the rest, averaged unweighted: 0.5 is chance for any number
            # of classes, so one bound (the default gate's) fits every multiclass table.
            "roc_auc_ovr": skm.roc_auc_score(
                labels, scores, multi_class="ovr", average="macro", labels=codes
            ),
        }
    )
    per_class = _per_class_table(labels, predicted, classes)
    report.tables["per_class"] = per_class
    report.figures["per_class"] = _per_class_figure(per_class, report.metrics["macro_f1"])
    _add_confusion(report, labels, predicted, classes, title="most likely class")
    return report


def _regression_report(targets: FloatArray, predictions: FloatArray) -> _Report:
    from sklearn import metrics as skm

    if len(targets) < 2:
        raise DataError(f"{DATASET} has {len(targets)} row(s); R² needs at least 2")
    report = _Report(
        metrics={
            "rmse": skm.root_mean_squared_error(targets, predictions),
            "mae": skm.mean_absolute_error(targets, predictions),
            "r2": skm.r2_score(targets, predictions),
        }
    )
    keep = _thin(len(targets), MAX_RESIDUAL_POINTS)
    residuals = pd.DataFrame(
        {
            "y_true": targets[keep],
            "y_pred": predictions[keep],
            "residual": targets[keep] - predictions[keep],
        }
    )
    report.tables["residuals"] = residuals
    report.figures["residuals"] = _residuals_figure(residuals, report.metrics["rmse"])
    return report


# --- tables -------------------------------------------------------------------------------


def _thin(count: int, limit: int) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Evenly spaced positions (first and last kept): deterministic, no seed needed."""
    if count <= limit:
        return np.arange(count, dtype=np.intp)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(np.intp))


def learning_curve_table(history: Mapping[str, Any]) -> pd.DataFrame:
    """The validation metric per boosting iteration, numbered from 1 as the learners count
    (`best_iteration` 43 is the 43rd row); empty without a validation curve."""
    values = np.asarray(history.get("valid_metric") or [], dtype=np.float64)
    return pd.DataFrame(
        {"iteration": np.arange(1, len(values) + 1, dtype=np.int64), "valid_metric": values}
    )


def _calibration_table(labels: IntArray, scores: FloatArray, bins: int) -> pd.DataFrame:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    predicted = np.bincount(which, weights=scores, minlength=bins)
    positive = np.bincount(which, weights=labels.astype(np.float64), minlength=bins)
    used = counts > 0
    return pd.DataFrame(
        {
            "mean_predicted": predicted[used] / counts[used],
            "fraction_positive": positive[used] / counts[used],
            "count": counts[used].astype(np.int64),
        }
    )


def _per_class_table(labels: IntArray, predicted: IntArray, classes: list[Any]) -> pd.DataFrame:
    """Precision, recall, F1 and support of each class (one row per class, in class order)."""
    from sklearn import metrics as skm

    precision, recall, f1, support = skm.precision_recall_fscore_support(
        labels, predicted, labels=list(range(len(classes))), zero_division=0
    )
    return pd.DataFrame(
        {
            "class": np.asarray(classes, dtype=object),
            "precision": precision.astype(np.float64),
            "recall": recall.astype(np.float64),
            "f1": f1.astype(np.float64),
            "support": support.astype(np.int64),
        }
    )


def _feature_importance(predictor: Predictor) -> pd.DataFrame:
    importance = predictor.importance()
    table = pd.DataFrame(
        {
            "feature": predictor.feature_names,
            "gain": importance.gain,
            "split": importance.split,
        }
    )
    # Ties (e.g. unused features, gain 0) are ordered by name so the file is stable.
    return table.sort_values(
        ["gain", "feature"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


# --- figures ------------------------------------------------------------------------------


def _axes(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    # A bare Figure, not pyplot: no global figure registry, no GUI backend, nothing to close.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    return figure, axes


def _diagonal(axes: Axes, label: str) -> None:
    axes.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color="grey", linewidth=1, label=label)


def _unit_square(axes: Axes) -> None:
    """Both axes 0 to 1 in tenths: rounded ticks, and curves of two runs line up."""
    ticks = np.linspace(0.0, 1.0, 11)
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(0.0, 1.02)
    axes.set_xticks(ticks)
    axes.set_yticks(ticks)
    axes.grid(alpha=0.3)


def _roc_figure(roc: pd.DataFrame, auc: float) -> Figure:
    figure, axes = _axes(
        f"ROC curve (AUC = {auc:.3f})", "False positive rate", "True positive rate"
    )
    axes.plot(roc["fpr"], roc["tpr"], label="model")
    _diagonal(axes, "chance (AUC = 0.5)")
    _unit_square(axes)
    axes.legend(loc="lower right")
    return figure


def _pr_figure(pr: pd.DataFrame, average_precision: float, positive_rate: float) -> Figure:
    figure, axes = _axes(
        f"Precision-recall curve (average precision = {average_precision:.3f})",
        "Recall",
        "Precision",
    )
    axes.plot(pr["recall"], pr["precision"], label="model")
    # A classifier without skill has the positive rate as precision at every recall.
    axes.axhline(
        positive_rate,
        linestyle="--",
        color="grey",
        linewidth=1,
        label=f"no skill (positive rate = {positive_rate:.3f})",
    )
    _unit_square(axes)
    axes.legend(loc="upper right")
    return figure


def _calibration_figure(calibration: pd.DataFrame, log_loss: float) -> Figure:
    figure, axes = _axes(
        f"Calibration (log loss = {log_loss:.3f})",
        "Mean predicted probability",
        "Fraction of positives",
    )
    # The rows behind each point, on a second axis: a bin of 12 rows is noise, not a trend.
    counts = axes.twinx()
    counts.bar(
        calibration["mean_predicted"], calibration["count"], width=0.05, color="grey", alpha=0.25
    )
    counts.set_ylabel("Rows in the bin")
    axes.set_zorder(counts.get_zorder() + 1)
    axes.patch.set_visible(False)
    axes.plot(
        calibration["mean_predicted"], calibration["fraction_positive"], marker="o", label="model"
    )
    _diagonal(axes, "perfectly calibrated")
    _unit_square(axes)
    axes.legend(loc="upper left")
    return figure


def _residuals_figure(residuals: pd.DataFrame, rmse: float) -> Figure:
    figure, axes = _axes(
        f"Residuals (RMSE = {rmse:.3f})", "Predicted value", "Residual (actual - predicted)"
    )
    axes.scatter(residuals["y_pred"], residuals["residual"], s=8, alpha=0.6)
    axes.axhline(0.0, linestyle="--", color="grey", linewidth=1)
    return figure


def _confusion_figure(matrix: IntArray, names: list[str], accuracy: float, rule: str) -> Figure:
    figure, axes = _axes(
        f"Confusion matrix, {rule} (accuracy = {accuracy:.3f})", "Predicted", "Actual"
    )
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes)
    ticks = list(range(len(names)))
    axes.set_xticks(ticks, labels=names)
    axes.set_yticks(ticks, labels=names)
    dark = matrix.max() / 2  # white on the darker half of the colour map, else black
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > dark else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=colour)
    return figure


def _per_class_figure(per_class: pd.DataFrame, macro_f1: float) -> Figure:
    figure, axes = _axes(
        f"Per-class precision and recall (macro F1 = {macro_f1:.3f})", "Class", "Score"
    )
    positions = np.arange(len(per_class), dtype=np.float64)
    width = 0.4
    axes.bar(positions - width / 2, per_class["precision"], width, label="precision")
    axes.bar(positions + width / 2, per_class["recall"], width, label="recall")
    axes.set_xticks(list(positions), labels=[str(name) for name in per_class["class"]])
    # Headroom above 1.0 keeps the legend off the bars of a perfect class.
    axes.set_ylim(0.0, 1.2)
    axes.legend(loc="upper center", ncols=2)
    return figure


def _learning_curve_figure(curve: pd.DataFrame, metric: str, kept: int) -> Figure:
    figure, axes = _axes(
        f"Learning curve ({metric} on the validation split)", "Boosting iteration", metric
    )
    axes.plot(curve["iteration"], curve["valid_metric"], label="validation")
    # Early stopping keeps fewer iterations than were trained: the kept one is the model.
    axes.axvline(kept, linestyle="--", color="grey", linewidth=1, label=f"kept: iteration {kept}")
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    return figure


def _importance_figure(importance: pd.DataFrame, metric: str, value: float) -> Figure:
    top = importance.head(MAX_IMPORTANCE_BARS).iloc[::-1]
    figure, axes = _axes(
        f"Feature importance, top {len(top)} by gain ({metric} = {value:.3f})",
        "Total gain",
        "Feature",
    )
    axes.barh(top["feature"], top["gain"])
    return figure
