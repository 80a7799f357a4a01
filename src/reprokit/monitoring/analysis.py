"""Compare a batch of current data with the reference profile: drift per column and of the
predictions, data-quality findings, and (with labels) performance against the training
metrics. Pure functions of a DataFrame, the profile and the thresholds (no I/O)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from reprokit.config.models import PRIMARY_METRIC, ColumnSpec, MonitoringConfig
from reprokit.errors import DataError
from reprokit.monitoring.drift import ColumnDrift, column_drift
from reprokit.nodes._common import preview
from reprokit.nodes.features import class_codes
from reprokit.nodes.profile import (
    PREDICTION,
    NumericProfile,
    ReferenceProfile,
    prediction_values,
)

Severity = Literal["alarm", "info"]
# Which way is better, for every metric the evaluation writes.
HIGHER_IS_BETTER = {
    "roc_auc": True,
    "accuracy": True,
    "f1": True,
    "precision": True,
    "recall": True,
    "macro_f1": True,
    "r2": True,
    "log_loss": False,
    "rmse": False,
    "mae": False,
}
DATASET = "current data"


@dataclass(frozen=True)
class Finding:
    """A data-quality or performance observation; `alarm` ones make the batch fail."""

    check: str
    column: str | None
    message: str
    severity: Severity = "alarm"

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "column": self.column,
            "message": self.message,
            "severity": self.severity,
        }


@dataclass(frozen=True)
class MetricCheck:
    metric: str
    reference: float
    current: float
    higher_is_better: bool
    margin: float
    degraded: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "reference": self.reference,
            "current": _finite(self.current),
            "higher_is_better": self.higher_is_better,
            "relative_margin": self.margin,
            "degraded": self.degraded,
        }


@dataclass
class Analysis:
    """Everything `reprokit monitor` reports about one batch."""

    rows: int
    columns: list[ColumnDrift]
    prediction: ColumnDrift
    findings: list[Finding]
    performance: list[MetricCheck] = field(default_factory=list)
    current_metrics: dict[str, float] = field(default_factory=dict)
    labelled_rows: int = 0
    scored_by: str = "model"
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def drifted(self) -> list[str]:
        names = [c.name for c in self.columns if c.drifted]
        return [*names, PREDICTION] if self.prediction.drifted else names

    @property
    def alarms(self) -> list[str]:
        alarms = [f"drift: {name}" for name in self.drifted]
        alarms += [f"{f.check}: {f.message}" for f in self.findings if f.severity == "alarm"]
        alarms += [
            f"performance: {m.metric} {m.current:.4g} vs reference {m.reference:.4g}"
            for m in self.performance
            if m.degraded
        ]
        return alarms

    @property
    def status(self) -> str:
        return "alarm" if self.alarms else "ok"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


# --- structure: what must hold for the statistics to mean anything ------------------------


def check_structure(frame: pd.DataFrame, profile: ReferenceProfile, labels: str | None) -> None:
    """Raise `DataError` for zero rows, missing monitored columns or a numeric column
    holding text: the comparison cannot be made, which is not the same as "no drift"."""
    if len(frame) == 0:
        raise DataError(f"{DATASET}: the file has 0 rows; expected at least 1 row to monitor")
    needed = list(profile.columns) + ([labels] if labels else [])
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise DataError(
            f"{DATASET}: {len(missing)} column(s) the model's profile needs are missing: "
            f"{missing}; the file has {list(frame.columns)}"
        )
    for name, column in profile.columns.items():
        if not isinstance(column, NumericProfile):
            continue
        values = frame[name]
        converted = pd.to_numeric(values, errors="coerce")
        bad = converted.isna() & values.notna()
        if bad.any():
            raise DataError(
                f"{DATASET}: column {name!r} has {int(bad.sum())} non-numeric value(s) "
                f"{preview(values[bad].unique())}; expected numbers"
            )


# --- data quality ---------------------------------------------------------------------------


def schema_findings(
    frame: pd.DataFrame, profile: ReferenceProfile, extra_ok: set[str]
) -> list[Finding]:
    """The training schema's value rules (ranges, allowed values, nullability, uniqueness)
    as findings. Dtypes are coerced first: a CSV gives 3.0 as 3, which is not a violation."""
    import pandera.errors
    import pandera.pandas as pa

    from reprokit.schemas import build_schema, summarize_failures

    spec = profile.data_schema
    columns: dict[str, ColumnSpec] = {
        name: column.model_copy(update={"coerce": True})
        for name, column in spec.columns.items()
        if name in frame.columns
    }
    findings: list[Finding] = []
    unexpected = sorted(set(frame.columns) - set(spec.columns) - extra_ok)
    if unexpected and spec.strict is True:
        findings.append(
            Finding("schema", None, f"column(s) not in the training schema: {unexpected}", "info")
        )
    if not columns:
        return findings
    schema: pa.DataFrameSchema = build_schema(
        spec.model_copy(update={"columns": columns, "strict": False}), name=DATASET
    )
    try:
        schema.validate(frame[list(columns)], lazy=True)
    except pandera.errors.SchemaErrors as errors:
        for line in summarize_failures(errors.failure_cases):
            column = line.split("'")[1] if line.startswith("column '") else None
            findings.append(Finding("schema", column, line))
    return findings


def quality_findings(columns: list[ColumnDrift], config: MonitoringConfig) -> list[Finding]:
    """New categories and null-rate jumps, from the per-column comparisons."""
    findings: list[Finding] = []
    for column in columns:
        if column.new_categories:
            new_rows = sum(column.new_categories.values())
            share = new_rows / max(column.rows, 1)
            severity: Severity = "alarm" if share > config.new_category_share else "info"
            findings.append(
                Finding(
                    "new_category",
                    column.name,
                    f"column {column.name!r}: {len(column.new_categories)} value(s) never seen in "
                    f"training on {new_rows} row(s) ({share:.1%}): "
                    f"{preview(list(column.new_categories))}",
                    severity,
                )
            )
        jump = column.null_rate_current - column.null_rate_reference
        if jump > config.null_rate_margin:
            findings.append(
                Finding(
                    "null_rate",
                    column.name,
                    f"column {column.name!r}: null rate {column.null_rate_current:.1%} vs "
                    f"{column.null_rate_reference:.1%} in training (margin "
                    f"{config.null_rate_margin:.0%})",
                )
            )
        if column.out_of_range > 0:
            findings.append(
                Finding(
                    "range",
                    column.name,
                    f"column {column.name!r}: {column.out_of_range:.1%} of values outside the "
                    "training range",
                    "info",
                )
            )
    return findings


# --- predictions ----------------------------------------------------------------------------


def prediction_columns(profile: ReferenceProfile) -> list[str]:
    """The columns `reprokit predict` writes that hold the model output monitored here."""
    if profile.task == "regression":
        return [PREDICTION]
    classes = profile.classes or []
    if profile.task == "binary":
        return [f"probability_{classes[1]}"]
    return [f"probability_{label}" for label in classes]


def given_predictions(
    frame: pd.DataFrame, profile: ReferenceProfile
) -> np.ndarray[Any, Any] | None:
    """The batch's own model output when it carries it (a scored file), else None."""
    columns = prediction_columns(profile)
    if not all(column in frame.columns for column in columns):
        return None
    raw = frame[columns].to_numpy(dtype=np.float64, na_value=np.nan)
    return raw[:, 0] if profile.task != "multiclass" else raw


def score(frame: pd.DataFrame, model: str, state: dict[str, Any]) -> np.ndarray[Any, Any]:
    """The model's raw output for the batch, with the training feature code."""
    from reprokit.models import load_model
    from reprokit.nodes.features import parse_state, transform_matrix

    # The features only: a label column in the batch is neither needed nor checked here.
    fitted = parse_state(state)
    return load_model(model, fitted.feature_names).predict(transform_matrix(frame, fitted))


# --- performance with delayed labels --------------------------------------------------------


def encode_labels(
    values: pd.Series, profile: ReferenceProfile, column: str
) -> np.ndarray[Any, Any]:
    if values.isna().any():
        raise DataError(
            f"{DATASET}: label column {column!r} has {int(values.isna().sum())} missing "
            "value(s); expected a label on every row (drop unlabelled rows first)"
        )
    if profile.task == "regression" or profile.classes is None:
        return pd.to_numeric(values, errors="raise").to_numpy(dtype=np.float64)
    codes = class_codes(values, profile.classes)
    unknown = codes < 0
    if unknown.any():
        raise DataError(
            f"{DATASET}: label column {column!r} has {int(unknown.sum())} row(s) with values "
            f"{preview(sorted({str(v) for v in values[unknown]}))} not among the training "
            f"classes {profile.classes}"
        )
    return codes


def label_metrics(
    task: str, labels: np.ndarray[Any, Any], raw: np.ndarray[Any, Any]
) -> dict[str, float]:
    """The evaluation's metrics on the labelled batch (NaN where undefined, e.g. one class)."""
    from sklearn import metrics as skm

    if task == "regression":
        return {
            "rmse": float(skm.root_mean_squared_error(labels, raw)),
            "mae": float(skm.mean_absolute_error(labels, raw)),
            "r2": float(skm.r2_score(labels, raw)) if len(labels) > 1 else math.nan,
        }
    if task == "binary":
        predicted = (raw >= 0.5).astype(np.int64)
        two_classes = len(np.unique(labels)) == 2
        return {
            "roc_auc": float(skm.roc_auc_score(labels, raw)) if two_classes else math.nan,
            "log_loss": float(skm.log_loss(labels, raw, labels=[0, 1])),
            "accuracy": float(skm.accuracy_score(labels, predicted)),
            "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
            "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
            "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        }
    predicted = raw.argmax(axis=1)
    return {
        "log_loss": float(skm.log_loss(labels, raw, labels=list(range(raw.shape[1])))),
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "macro_f1": float(skm.f1_score(labels, predicted, average="macro", zero_division=0)),
    }


def performance_checks(
    reference: dict[str, float], current: dict[str, float], task: str, config: MonitoringConfig
) -> tuple[list[MetricCheck], list[Finding]]:
    names = config.performance_metrics or [PRIMARY_METRIC[task][0]]
    checks: list[MetricCheck] = []
    findings: list[Finding] = []
    for name in names:
        if name not in reference or name not in current:
            findings.append(
                Finding(
                    "performance",
                    None,
                    f"metric {name!r} cannot be compared (reference has {sorted(reference)}, "
                    f"the labelled batch {sorted(current)})",
                    "info",
                )
            )
            continue
        ref, cur = reference[name], current[name]
        higher = HIGHER_IS_BETTER.get(name, True)
        if not math.isfinite(cur):
            findings.append(
                Finding("performance", None, f"{name} is undefined on this batch", "info")
            )
            continue
        worse = (ref - cur) if higher else (cur - ref)
        degraded = worse > config.performance_margin * abs(ref)
        checks.append(MetricCheck(name, ref, cur, higher, config.performance_margin, degraded))
    return checks, findings


# --- the whole analysis ---------------------------------------------------------------------


def analyse(
    frame: pd.DataFrame,
    profile: ReferenceProfile,
    config: MonitoringConfig,
    raw_predictions: np.ndarray[Any, Any],
    *,
    labels: str | None = None,
    scored_by: str = "model",
) -> Analysis:
    """Compare `frame` (structure already checked) and its predictions with the profile."""
    columns = [
        column_drift(name, column, frame[name], config) for name, column in profile.columns.items()
    ]
    monitored = prediction_values(raw_predictions, profile.task)
    prediction = column_drift(PREDICTION, profile.prediction, monitored, config)
    extra_ok = {profile.target, *prediction_columns(profile), "label"}
    findings = [*schema_findings(frame, profile, extra_ok), *quality_findings(columns, config)]
    analysis = Analysis(
        rows=len(frame),
        columns=columns,
        prediction=prediction,
        findings=findings,
        scored_by=scored_by,
    )
    if labels is not None:
        encoded = encode_labels(frame[labels], profile, labels)
        analysis.current_metrics = label_metrics(profile.task, encoded, raw_predictions)
        analysis.labelled_rows = len(encoded)
        checks, notes = performance_checks(
            profile.metrics, analysis.current_metrics, profile.task, config
        )
        analysis.performance = checks
        analysis.findings.extend(notes)
    return analysis


def summary(
    analysis: Analysis, profile: ReferenceProfile, config: MonitoringConfig, source: dict[str, Any]
) -> dict[str, Any]:
    """The JSON summary written next to the HTML report."""
    return {
        "status": analysis.status,
        "alarms": analysis.alarms,
        "created": analysis.created,
        "rows": analysis.rows,
        "drifted": analysis.drifted,
        "reference": {
            **source,
            "task": profile.task,
            "model_sha256": profile.model_sha256,
            "feature_rows": profile.feature_rows,
            "prediction_rows": profile.prediction_rows,
        },
        "scored_by": analysis.scored_by,
        "thresholds": config.model_dump(mode="json", exclude={"live"}),
        "columns": [column.as_dict() for column in analysis.columns],
        "prediction": analysis.prediction.as_dict(),
        "findings": [finding.as_dict() for finding in analysis.findings],
        "performance": {
            "labelled_rows": analysis.labelled_rows,
            "reference": profile.metrics if analysis.labelled_rows else {},
            "current": {k: _finite(v) for k, v in analysis.current_metrics.items()},
            "checks": [check.as_dict() for check in analysis.performance],
        },
    }
