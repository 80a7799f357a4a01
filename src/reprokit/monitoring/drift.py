"""The PSI of one column against its reference profile, over the profile's bins (quantile
bins for numeric columns, categories for categorical ones, plus a bucket for unseen
categories): the statistic of the service's live drift gauges (`reprokit.monitoring.live`
keeps the same bins incrementally), computed here on a whole batch.

`reprokit monitor` uses Evidently's tests instead (`reprokit.monitoring.evidently_report`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

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
    """One column's PSI; `labels`, `reference` and `current` describe the bins."""

    name: str
    kind: str
    rows: int
    null_rate_reference: float
    null_rate_current: float
    psi: float
    labels: list[str]
    reference: list[float]
    current: list[float]


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


def numeric_drift(name: str, profile: NumericProfile, values: FloatArray) -> ColumnDrift:
    missing = np.isnan(values)
    present = values[~missing]
    rows = len(values)
    counts = np.bincount(numeric_bins(profile, present), minlength=len(profile.cuts) + 1)
    current = counts / max(len(present), 1)
    reference = np.asarray(profile.fractions)
    return ColumnDrift(
        name=name,
        kind="numeric",
        rows=rows,
        null_rate_reference=profile.null_rate,
        null_rate_current=float(missing.mean()) if rows else 0.0,
        psi=psi(reference, current) if len(present) else 0.0,
        labels=numeric_labels(profile),
        reference=[float(x) for x in reference],
        current=[float(x) for x in current],
    )


def categorical_counts(profile: CategoricalProfile, labels: pd.Series) -> tuple[IntArray, int]:
    """Counts per reference category plus one bucket of unseen ones; and the missing count."""
    missing = labels.isna().to_numpy()
    codes = pd.Index(profile.categories).get_indexer(pd.Index(labels[~missing]))
    new = len(profile.categories)
    codes = np.where(codes < 0, new, codes)
    return np.bincount(codes, minlength=new + 1).astype(np.int64), int(missing.sum())


def categorical_drift(name: str, profile: CategoricalProfile, values: pd.Series) -> ColumnDrift:
    labels = category_labels(values)
    counts, missing = categorical_counts(profile, labels)
    present = int(counts.sum())
    rows = len(labels)
    reference = np.append(np.asarray(profile.fractions, dtype=np.float64), 0.0)
    current = counts / max(present, 1)
    return ColumnDrift(
        name=name,
        kind="categorical",
        rows=rows,
        null_rate_reference=profile.null_rate,
        null_rate_current=missing / rows if rows else 0.0,
        psi=psi(reference, current) if present else 0.0,
        labels=[*profile.categories, NEW],
        reference=[float(x) for x in reference],
        current=[float(x) for x in current],
    )


def column_drift(
    name: str, profile: ColumnProfile, values: pd.Series | np.ndarray[Any, Any]
) -> ColumnDrift:
    """The PSI of one column (or the predictions) against its reference profile."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(profile, NumericProfile):
        numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return numeric_drift(name, profile, numbers)
    return categorical_drift(name, profile, series)
