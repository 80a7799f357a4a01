"""`reprokit monitor`'s report and test suite, by Evidently.

One Evidently `Report` compares the current batch with the reference sample stored with the
model (`reference_sample`, a bounded deterministic sample of the train split with the
model's predictions): `DataDriftPreset` with one drift test per column (the method and
threshold of `monitoring.drift` in conf/monitoring/), `DataSummaryPreset`, and with labels
the classification or regression preset. Its tests are the verdict: every drift test, the
data-quality tests (unseen categories, null-rate increases) and, with labels, the primary
metric against the model's held-out test metric. Any failed test is an alarm (exit 1).

The drifted columns are read back from the snapshot's own test results, so the printed
table, the JSON and the HTML cannot disagree.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reprokit.config.models import PRIMARY_METRIC, DriftTestConfig, MonitoringConfig
from reprokit.errors import ConfigError
from reprokit.monitoring.analysis import encode_labels
from reprokit.nodes.profile import (
    LABEL,
    PREDICTION,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    category_labels,
    label_values,
    prediction_values,
)

# Evidently's names of the tests' outcomes.
FAILED = ("FAIL", "ERROR")
DRIFT_TEST = "drift"  # the id of ValueDrift's test


@dataclass(frozen=True)
class ColumnVerdict:
    """One column's drift test, as Evidently ran it."""

    column: str
    method: str
    threshold: float
    score: float
    drifted: bool


@dataclass(frozen=True)
class Verdict:
    """What the snapshot's tests say: the drifted columns and every failed test."""

    columns: list[ColumnVerdict]
    failed: list[str]
    tests: int

    @property
    def drifted(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def status(self) -> str:
        return "alarm" if self.failed else "ok"


def drift_test(name: str, kind: str, config: MonitoringConfig) -> DriftTestConfig:
    """The configured test of one column: its own entry, else the one of its kind."""
    drift = config.drift
    if name in drift.columns:
        return drift.columns[name]
    if name == PREDICTION and drift.prediction is not None:
        return drift.prediction
    return drift.numeric if kind == "numeric" else drift.categorical


def monitored_kinds(profile: ReferenceProfile) -> dict[str, str]:
    """Every drift-tested column (inputs, then the prediction) and its kind."""
    kinds = {name: column.kind for name, column in profile.columns.items()}
    return {**kinds, PREDICTION: profile.prediction.kind}


def as_table(
    frame: pd.DataFrame, profile: ReferenceProfile, labels: np.ndarray[Any, Any] | None
) -> pd.DataFrame:
    """The columns Evidently compares, typed as the reference sample holds them: numbers as
    float64, categories as text labels (as the feature state keys them), the prediction,
    and the encoded labels when given."""
    columns: dict[str, Any] = {}
    for name, column in profile.columns.items():
        if isinstance(column, NumericProfile):
            numbers = pd.to_numeric(frame[name], errors="coerce")
            columns[name] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            columns[name] = category_labels(frame[name]).astype(object).to_numpy()
    columns[PREDICTION] = frame[PREDICTION].to_numpy()
    if labels is not None:
        columns[LABEL] = labels
    return pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))


def current_table(
    frame: pd.DataFrame, profile: ReferenceProfile, raw: np.ndarray[Any, Any], labels: str | None
) -> pd.DataFrame:
    """The batch in the reference sample's layout (`as_table`) with the model's output `raw`
    and, with `labels`, that column encoded (unknown labels are a `DataError`)."""
    encoded = None
    if labels is not None:
        encoded = label_values(encode_labels(frame[labels], profile, labels), profile.task)
    scored = frame.assign(**{PREDICTION: prediction_values(raw, profile.task)})
    return as_table(scored, profile, encoded)


def _definition(profile: ReferenceProfile, with_labels: bool) -> Any:
    from evidently import (
        BinaryClassification,
        DataDefinition,
        MulticlassClassification,
        Regression,
    )

    kinds = monitored_kinds(profile)
    numeric = [name for name, kind in kinds.items() if kind == "numeric"]
    categorical = [name for name, kind in kinds.items() if kind == "categorical"]
    task: dict[str, Any] = {}
    if with_labels and profile.task == "binary":
        task["classification"] = [
            BinaryClassification(target=LABEL, prediction_probas=PREDICTION, pos_label=1)
        ]
    elif with_labels and profile.task == "multiclass":
        task["classification"] = [
            MulticlassClassification(target=LABEL, prediction_labels=PREDICTION)
        ]
    elif with_labels:
        task["regression"] = [Regression(target=LABEL, prediction=PREDICTION)]
    return DataDefinition(numerical_columns=numeric, categorical_columns=categorical, **task)


# DataSummaryPreset's test arguments. Each is given as "no tests": with include_tests=False
# alone, evidently 0.7.23's preset renders metrics under other ids than it computed them
# with (a KeyError), and with defaults it would compare the batch's size and every
# statistic with the reference sample's.
SUMMARY_TESTS = (
    "row_count_tests",
    "column_count_tests",
    "duplicated_row_count_tests",
    "duplicated_column_count_tests",
    "almost_duplicated_column_count_tests",
    "almost_constant_column_count_tests",
    "empty_row_count_tests",
    "empty_column_count_tests",
    "constant_columns_count_tests",
    "dataset_missing_value_count_tests",
)
COLUMN_SUMMARY_TESTS = (
    "row_count_tests",
    "missing_values_count_tests",
    "min_tests",
    "max_tests",
    "mean_tests",
    "std_tests",
    "q25_tests",
    "q50_tests",
    "q75_tests",
    "unique_values_count_tests",
)
# ...except one: the preset still adds a row-count test against the reference sample's
# size, which says nothing about the batch's quality; the verdict leaves it out.
IGNORED_TESTS = (":RowCount",)


def quality_metrics(profile: ReferenceProfile, config: MonitoringConfig) -> list[Any]:
    """`DataSummaryPreset` (statistics only) and the data-quality tests: per column, a null
    rate above the training's by more than `null_rate_margin`, and unseen categories on
    more than `new_category_share` of a categorical column's values."""
    from evidently.metrics import MissingValueCount, OutListValueCount
    from evidently.presets import DataSummaryPreset
    from evidently.presets.dataset_stats import ValueStatsTests
    from evidently.tests import eq, lte

    columns = list(monitored_kinds(profile))
    no_tests = ValueStatsTests(**{key: [] for key in COLUMN_SUMMARY_TESTS})
    summary = DataSummaryPreset(
        columns=columns,
        column_tests=dict.fromkeys(columns, no_tests),
        include_tests=False,
        **{key: [] for key in SUMMARY_TESTS},
    )
    specs = profile.data_schema.columns
    nulls = [
        MissingValueCount(
            column=name,
            # The training schema's nullability: no missing value at all where it forbids them.
            tests=None if name not in specs or specs[name].nullable else [eq(0)],
            share_tests=[lte(min(1.0, column.null_rate + config.null_rate_margin))],
        )
        for name, column in profile.columns.items()
    ]
    unseen = [
        OutListValueCount(
            column=name,
            values=list(column.categories),
            share_tests=[lte(config.new_category_share)],
        )
        for name, column in profile.columns.items()
        if isinstance(column, CategoricalProfile)
    ]
    return [summary, *nulls, *unseen, *schema_metrics(profile)]


def schema_metrics(profile: ReferenceProfile) -> list[Any]:
    """The training schema's value rules that Evidently states exactly, as tests that no
    value breaks them: inclusive bounds (`ge`, `le`) and allowed values (`isin`). Strict
    bounds (`gt`, `lt`) and uniqueness have no exact Evidently counterpart and are left out
    (the pipeline's Pandera validation checks them on training data)."""
    from evidently.metrics import OutListValueCount, OutRangeValueCount
    from evidently.tests import eq

    metrics: list[Any] = []
    for name, spec in profile.data_schema.columns.items():
        if name not in profile.columns:
            continue
        if spec.ge is not None or spec.le is not None:
            low = -sys.float_info.max if spec.ge is None else spec.ge
            high = sys.float_info.max if spec.le is None else spec.le
            metrics.append(OutRangeValueCount(column=name, left=low, right=high, tests=[eq(0)]))
        if spec.isin is not None:
            allowed = [str(v) for v in spec.isin] if name in categorical(profile) else spec.isin
            metrics.append(OutListValueCount(column=name, values=allowed, tests=[eq(0)]))
    return metrics


def categorical(profile: ReferenceProfile) -> set[str]:
    return {n for n, c in profile.columns.items() if isinstance(c, CategoricalProfile)}


# reprokit's metric names -> Evidently's metric class and whether higher is better.
EVIDENTLY_METRICS: dict[str, tuple[str, bool]] = {
    "roc_auc": ("RocAuc", True),
    "accuracy": ("Accuracy", True),
    "f1": ("F1Score", True),
    "precision": ("Precision", True),
    "recall": ("Recall", True),
    "log_loss": ("LogLoss", False),
    "rmse": ("RMSE", False),
    "mae": ("MAE", False),
    "r2": ("R2Score", True),
}


def performance_names(profile: ReferenceProfile, config: MonitoringConfig) -> list[str]:
    """The metrics tested against the model's test metrics: `performance_metrics`, else the
    task's primary one. Multiclass batches carry the predicted class only, not the class
    probabilities, so accuracy stands in for the log loss there."""
    if config.performance_metrics:
        return list(config.performance_metrics)
    return ["accuracy"] if profile.task == "multiclass" else [PRIMARY_METRIC[profile.task][0]]


def performance_metrics(profile: ReferenceProfile, config: MonitoringConfig) -> list[Any]:
    """The task's preset (without its default tests: they compare with the reference sample,
    whose predictions are in-sample) and one test per tested metric against the model's
    held-out test metric, worse by at most `performance_margin` (relative)."""
    import evidently.metrics
    from evidently.presets import ClassificationQuality, RegressionQuality
    from evidently.tests import gte, lte

    margin = config.performance_margin
    # The quality presets: ClassificationPreset(include_tests=False) fails in evidently
    # 0.7.23 (its per-label part passes a list where it validates a dict).
    metrics: list[Any] = [
        RegressionQuality(include_tests=False)
        if profile.task == "regression"
        else ClassificationQuality(include_tests=False)
    ]
    for name in performance_names(profile, config):
        if name not in EVIDENTLY_METRICS or name not in profile.metrics:
            raise ConfigError(
                f"monitoring.performance_metrics: {name!r} cannot be tested (the model's "
                f"test metrics are {sorted(profile.metrics)}; Evidently's are "
                f"{sorted(EVIDENTLY_METRICS)})"
            )
        class_name, higher_is_better = EVIDENTLY_METRICS[name]
        reference = profile.metrics[name]
        bound = abs(reference) * margin
        test = gte(reference - bound) if higher_is_better else lte(reference + bound)
        metrics.append(getattr(evidently.metrics, class_name)(tests=[test]))
    return metrics


def build_report(profile: ReferenceProfile, config: MonitoringConfig, with_labels: bool) -> Any:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    tests = {
        name: drift_test(name, kind, config) for name, kind in monitored_kinds(profile).items()
    }
    metrics: list[Any] = [
        DataDriftPreset(
            columns=list(tests),
            per_column_method={name: test.method for name, test in tests.items()},
            per_column_threshold={name: test.threshold for name, test in tests.items()},
        ),
        *quality_metrics(profile, config),
    ]
    if with_labels:
        metrics.extend(performance_metrics(profile, config))
    return Report(metrics, include_tests=True)


def run_report(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    profile: ReferenceProfile,
    config: MonitoringConfig,
) -> Any:
    """Run the report on the two tables (`as_table` layout); returns Evidently's snapshot."""
    from evidently import Dataset

    with_labels = LABEL in current.columns
    definition = _definition(profile, with_labels)
    columns = [c for c in current.columns if c != LABEL or with_labels]
    report = build_report(profile, config, with_labels)
    return report.run(
        Dataset.from_pandas(current[columns], data_definition=definition),
        Dataset.from_pandas(reference[columns], data_definition=definition),
    )


def verdict(document: Mapping[str, Any]) -> Verdict:
    """The drift per column and the failed tests, from the snapshot's dict (`.dict()`)."""
    scores = {
        str(metric["config"].get("column")): float(metric["value"])
        for metric in document["metrics"]
        if metric["config"].get("type", "").endswith(":ValueDrift")
    }
    columns: list[ColumnVerdict] = []
    failed: list[str] = []
    for test in document["tests"]:
        params = test["metric_config"]["params"]
        if params.get("type", "").endswith(IGNORED_TESTS):
            continue
        if test["id"] == DRIFT_TEST and params.get("type", "").endswith(":ValueDrift"):
            column = str(params["column"])
            columns.append(
                ColumnVerdict(
                    column=column,
                    method=str(params["method"]),
                    threshold=float(params["threshold"]),
                    score=scores[column],
                    drifted=test["status"] in FAILED,
                )
            )
        if test["status"] in FAILED:
            failed.append(f"{test['name']}: {test['description']}")
    return Verdict(columns=columns, failed=failed, tests=len(document["tests"]))
