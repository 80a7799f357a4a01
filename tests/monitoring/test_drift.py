"""The PSI of one column over the reference profile's bins (the live gauges' statistic), and
the names of `reprokit monitor`'s report files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reprokit.monitoring.drift import NEW, column_drift, numeric_bins, psi
from reprokit.nodes.profile import profile_categorical, profile_numeric


def test_psi_is_zero_for_identical_shares_and_grows_with_the_shift() -> None:
    reference = np.full(10, 0.1)
    assert psi(reference, reference) == pytest.approx(0.0)
    slightly = np.array([0.12, 0.08, *[0.1] * 8])
    strongly = np.array([0.4, 0.0, *[0.075] * 8])
    assert 0 < psi(reference, slightly) < 0.02
    assert psi(reference, strongly) > 0.5  # an empty bin is floored, not infinite
    assert np.isfinite(psi(reference, strongly))


def test_numeric_profile_cuts_are_deciles_and_fractions_sum_to_one() -> None:
    values = np.random.default_rng(0).normal(size=20_000)
    profile = profile_numeric(values, bins=10, cdf_points=200)
    assert len(profile.cuts) == 9
    assert sum(profile.fractions) == pytest.approx(1.0)
    assert all(f == pytest.approx(0.1, abs=0.001) for f in profile.fractions)
    assert profile.null_rate == 0.0
    assert len(profile.cdf.values) <= 200


def test_discrete_column_gets_one_bin_per_value() -> None:
    values = np.random.default_rng(1).choice([12.0, 24.0, 36.0, 48.0, 60.0], size=5000)
    profile = profile_numeric(values, bins=10, cdf_points=200)
    assert profile.cuts == [24.0, 36.0, 48.0, 60.0]
    assert set(np.unique(numeric_bins(profile, values))) == {0, 1, 2, 3, 4}
    # The CDF of a discrete column is exact: one support point per value.
    assert profile.cdf.values == [12.0, 24.0, 36.0, 48.0, 60.0]


def test_null_rate_is_measured() -> None:
    profile = profile_numeric(np.arange(100.0), bins=10, cdf_points=200)
    values = pd.Series([np.nan, np.nan, 500.0, 50.0])
    assert column_drift("x", profile, values).null_rate_current == 0.5


def test_categorical_new_category_is_counted_and_drifts() -> None:
    rng = np.random.default_rng(5)
    reference = pd.Series(rng.choice(["a", "b", "c"], size=5000, p=[0.5, 0.3, 0.2]))
    profile = profile_categorical(reference)
    assert profile.categories == ["a", "b", "c"]
    current = pd.Series(rng.choice(["a", "b", "c", "z"], size=2000, p=[0.4, 0.25, 0.15, 0.2]))
    drift = column_drift("col", profile, current)
    assert drift.labels[-1] == NEW
    assert drift.current[-1] == pytest.approx((current == "z").mean())
    assert drift.psi > 0.2
    stable = column_drift(
        "col", profile, pd.Series(rng.choice(["a", "b", "c"], 2000, p=[0.5, 0.3, 0.2]))
    )
    assert stable.psi < 0.01 and stable.current[-1] == 0.0


def test_all_missing_current_column_does_not_crash() -> None:
    profile = profile_numeric(np.arange(50.0), bins=5, cdf_points=100)
    drift = column_drift("x", profile, pd.Series([np.nan] * 10))
    assert drift.null_rate_current == 1.0
    assert drift.psi == 0.0


def test_report_names_never_overwrite_an_earlier_report(tmp_path: Path) -> None:
    from reprokit.monitoring.report import report_paths

    first = report_paths(tmp_path, "2026-11-24T17:04:18+00:00")
    assert first.html.name == "20261124-170418-report.html"
    assert first.summary.name == "20261124-170418-summary.json"
    first.summary.write_text("{}", encoding="utf-8")
    second = report_paths(tmp_path, "2026-11-24T17:04:18+00:00")
    assert second.html.name == "20261124-170418-2-report.html"
