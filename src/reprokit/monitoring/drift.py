"""Drift statistics of one column against its reference profile.

- PSI over the reference bins (quantile bins for numeric columns, categories for
  categorical ones, plus a bucket for unseen categories).
- Numeric: the two-sample Kolmogorov-Smirnov statistic against the stored reference CDF,
  p-value from scipy's exact two-sided KS distribution (`kstwo`) with the two-sample
  effective size, as `scipy.stats.ks_2samp` computes it in its asymptotic mode.
- Categorical: Pearson's chi-square test (`scipy.stats.chisquare`) of the current counts
  against the reference frequencies.

Verdict: a column drifts when the shift is large (PSI >= psi_threshold, or KS >=
ks_threshold) AND significant (p < alpha). With a million rows the p-value of any shift,
however irrelevant, is ~0; with fifty rows a large PSI is mostly noise. Requiring both
keeps the alarm for shifts that are real and matter.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reprokit.config.models import MonitoringConfig
from reprokit.nodes.profile import (
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    category_labels,
)

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
# Fractions are floored at this before the PSI's log: an empty bin would make it infinite.
PSI_FLOOR = 1e-4
NEW = "(new)"


@dataclass
class ColumnDrift:
    """One column's comparison; `labels`, `reference` and `current` describe the bins."""

    name: str
    kind: str
    rows: int
    null_rate_reference: float
    null_rate_current: float
    psi: float
    test: str
    statistic: float
    p_value: float
    drifted: bool
    labels: list[str]
    reference: list[float]
    current: list[float]
    new_categories: dict[str, int] = field(default_factory=dict)
    out_of_range: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "rows": self.rows,
            "null_rate_reference": self.null_rate_reference,
            "null_rate_current": self.null_rate_current,
            "psi": self.psi,
            "test": self.test,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "drifted": self.drifted,
            "bins": [
                {"bin": label, "reference": ref, "current": cur}
                for label, ref, cur in zip(self.labels, self.reference, self.current, strict=True)
            ],
            "new_categories": self.new_categories,
            "out_of_range": self.out_of_range,
        }


def psi(reference: FloatArray, current: FloatArray) -> float:
    """Population stability index: sum((c - r) * ln(c / r)) over the bins."""
    ref = np.maximum(reference, PSI_FLOOR)
    cur = np.maximum(current, PSI_FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def numeric_bins(profile: NumericProfile, values: FloatArray) -> IntArray:
    """Bin index of each (non-missing) value: the bins of `profile.cuts`."""
    return np.searchsorted(np.asarray(profile.cuts), values, side="right").astype(np.int64)


def numeric_labels(profile: NumericProfile) -> list[str]:
    cuts = profile.cuts
    if not cuts:
        return ["all"]
    edges = [f"< {_number(cuts[0])}"]
    edges += [f"[{_number(lo)}, {_number(hi)})" for lo, hi in itertools.pairwise(cuts)]
    return [*edges, f">= {_number(cuts[-1])}"]


def _number(value: float) -> str:
    """Bin edges as people read them: 21,150 rather than 2.115e+04."""
    return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def ks_statistic(profile: NumericProfile, sorted_values: FloatArray) -> float:
    """sup |F_ref(x) - F_cur(x)|. Both are right-continuous step functions, so the supremum
    is reached at a jump of either: evaluate both at the union of their jump points. Exact
    for discrete columns (unlike a one-sample KS test against a continuous CDF)."""
    grid = np.asarray(profile.cdf.values)
    probs = np.asarray(profile.cdf.probs)
    if len(sorted_values) == 0 or len(grid) == 0:
        return 0.0
    points, counts = np.unique(sorted_values, return_counts=True)
    current_at_points = np.cumsum(counts) / len(sorted_values)
    current_at_grid = np.searchsorted(sorted_values, grid, side="right") / len(sorted_values)
    positions = np.searchsorted(grid, points, side="right") - 1
    reference_at_points = np.where(positions >= 0, probs[np.maximum(positions, 0)], 0.0)
    return float(
        max(
            np.max(np.abs(reference_at_points - current_at_points)),
            np.max(np.abs(probs - current_at_grid)),
        )
    )


def ks_p_value(statistic: float, reference_rows: int, current_rows: int) -> float:
    from scipy.stats import kstwo

    if reference_rows == 0 or current_rows == 0:
        return 1.0
    effective = reference_rows * current_rows / (reference_rows + current_rows)
    return float(np.clip(kstwo.sf(statistic, max(1, round(effective))), 0.0, 1.0))


def numeric_drift(
    name: str, profile: NumericProfile, values: FloatArray, config: MonitoringConfig
) -> ColumnDrift:
    missing = np.isnan(values)
    present = np.sort(values[~missing])
    rows = len(values)
    bins = len(profile.cuts) + 1
    counts = np.bincount(numeric_bins(profile, present), minlength=bins)
    current = counts / max(len(present), 1)
    reference = np.asarray(profile.fractions)
    score = psi(reference, current) if len(present) else 0.0
    statistic = ks_statistic(profile, present)
    reference_rows = round(profile.rows * (1.0 - profile.null_rate))
    p_value = ks_p_value(statistic, reference_rows, len(present))
    outside = 0.0
    if len(present) and profile.min is not None and profile.max is not None:
        outside = float(np.mean((present < profile.min) | (present > profile.max)))
    large = score >= config.psi_threshold or statistic >= config.ks_threshold
    return ColumnDrift(
        name=name,
        kind="numeric",
        rows=rows,
        null_rate_reference=profile.null_rate,
        null_rate_current=float(missing.mean()) if rows else 0.0,
        psi=score,
        test="ks",
        statistic=statistic,
        p_value=p_value,
        drifted=bool(large and p_value < config.alpha),
        labels=numeric_labels(profile),
        reference=[float(x) for x in reference],
        current=[float(x) for x in current],
        out_of_range=outside,
    )


def categorical_counts(profile: CategoricalProfile, labels: pd.Series) -> tuple[IntArray, int]:
    """Counts per reference category plus one bucket of unseen ones; and the missing count."""
    missing = labels.isna().to_numpy()
    codes = pd.Index(profile.categories).get_indexer(pd.Index(labels[~missing]))
    new = len(profile.categories)
    codes = np.where(codes < 0, new, codes)
    return np.bincount(codes, minlength=new + 1).astype(np.int64), int(missing.sum())


def categorical_drift(
    name: str, profile: CategoricalProfile, values: pd.Series, config: MonitoringConfig
) -> ColumnDrift:
    from scipy.stats import chisquare

    labels = category_labels(values)
    counts, missing = categorical_counts(profile, labels)
    present = int(counts.sum())
    rows = len(labels)
    reference = np.append(np.asarray(profile.fractions, dtype=np.float64), 0.0)
    current = counts / max(present, 1)
    score = psi(reference, current) if present else 0.0
    statistic, p_value = 0.0, 1.0
    if present:
        # An unseen category has reference frequency 0; the floor keeps the test finite
        # (and makes a new category on many rows overwhelmingly significant).
        expected = np.maximum(reference, PSI_FLOOR)
        expected = expected / expected.sum() * present
        result = chisquare(counts.astype(np.float64), expected)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    new_values = labels.dropna()
    unseen = new_values[~new_values.isin(profile.categories)].value_counts()
    return ColumnDrift(
        name=name,
        kind="categorical",
        rows=rows,
        null_rate_reference=profile.null_rate,
        null_rate_current=missing / rows if rows else 0.0,
        psi=score,
        test="chi2",
        statistic=statistic,
        p_value=p_value,
        drifted=bool(score >= config.psi_threshold and p_value < config.alpha),
        labels=[*profile.categories, NEW],
        reference=[float(x) for x in reference],
        current=[float(x) for x in current],
        new_categories={str(k): int(v) for k, v in unseen.head(20).items()},
    )


def column_drift(
    name: str,
    profile: ColumnProfile,
    values: pd.Series | np.ndarray[Any, Any],
    config: MonitoringConfig,
) -> ColumnDrift:
    """Compare one column (or the predictions) with its reference profile."""
    if isinstance(profile, NumericProfile):
        series = pd.Series(values) if not isinstance(values, pd.Series) else values
        numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return numeric_drift(name, profile, numbers, config)
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    return categorical_drift(name, profile, series, config)
