"""Drift statistics of one column: PSI, the KS statistic against the stored reference CDF
(checked against scipy's two-sample KS on the raw samples), chi-square, and the verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from reprokit.config.models import MonitoringConfig
from reprokit.monitoring.drift import (
    NEW,
    column_drift,
    ks_p_value,
    ks_statistic,
    numeric_bins,
    psi,
)
from reprokit.nodes.profile import profile_categorical, profile_numeric

CONFIG = MonitoringConfig()


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


@pytest.mark.parametrize("discrete", [False, True])
def test_ks_statistic_matches_scipy_two_sample_ks(discrete: bool) -> None:
    rng = np.random.default_rng(2)
    reference = rng.poisson(3.0, 5000).astype(float) if discrete else rng.normal(size=5000)
    current = rng.poisson(3.4, 3000).astype(float) if discrete else rng.normal(0.1, 1, 3000)
    # With cdf_points above the distinct count the stored CDF is exact...
    exact = profile_numeric(reference, bins=10, cdf_points=10_000)
    expected = ks_2samp(reference, current).statistic
    assert ks_statistic(exact, np.sort(current)) == pytest.approx(expected, abs=1e-12)
    # ...and compressed to 200 points it is off by at most 1/200.
    compressed = profile_numeric(reference, bins=10, cdf_points=200)
    assert ks_statistic(compressed, np.sort(current)) == pytest.approx(expected, abs=1 / 200)


def test_ks_p_value_agrees_with_scipy_asymptotic() -> None:
    rng = np.random.default_rng(3)
    reference, current = rng.normal(size=4000), rng.normal(0.05, 1, 2000)
    result = ks_2samp(reference, current, method="asymp")
    assert ks_p_value(result.statistic, 4000, 2000) == pytest.approx(result.pvalue, rel=0.05)


def test_numeric_drift_verdict_needs_size_and_significance() -> None:
    rng = np.random.default_rng(4)
    profile = profile_numeric(rng.normal(size=200_000), bins=10, cdf_points=200)
    shifted = column_drift("x", profile, pd.Series(rng.normal(1.0, 1, 2000)), CONFIG)
    assert shifted.drifted and shifted.psi > 0.2 and shifted.p_value < 1e-10
    # A tiny shift on many rows: highly significant, but too small to matter.
    tiny = column_drift("x", profile, pd.Series(rng.normal(0.05, 1, 200_000)), CONFIG)
    assert tiny.p_value < CONFIG.alpha
    assert not tiny.drifted
    # A large apparent shift on a handful of rows: not significant.
    few = column_drift("x", profile, pd.Series(rng.normal(0.5, 1, 8)), CONFIG)
    assert few.statistic >= CONFIG.ks_threshold
    assert not few.drifted


def test_null_rate_and_out_of_range_are_measured() -> None:
    profile = profile_numeric(np.arange(100.0), bins=10, cdf_points=200)
    values = pd.Series([np.nan, np.nan, 500.0, 50.0])
    drift = column_drift("x", profile, values, CONFIG)
    assert drift.null_rate_current == 0.5
    assert drift.out_of_range == 0.5  # 500 of the two present values


def test_categorical_new_category_is_counted_and_drifts() -> None:
    rng = np.random.default_rng(5)
    reference = pd.Series(rng.choice(["a", "b", "c"], size=5000, p=[0.5, 0.3, 0.2]))
    profile = profile_categorical(reference)
    assert profile.categories == ["a", "b", "c"]
    current = pd.Series(rng.choice(["a", "b", "c", "z"], size=2000, p=[0.4, 0.25, 0.15, 0.2]))
    drift = column_drift("col", profile, current, CONFIG)
    assert drift.labels[-1] == NEW
    assert drift.new_categories == {"z": int((current == "z").sum())}
    assert drift.drifted and drift.test == "chi2"
    stable = column_drift(
        "col", profile, pd.Series(rng.choice(["a", "b", "c"], 2000, p=[0.5, 0.3, 0.2])), CONFIG
    )
    assert not stable.drifted and stable.new_categories == {}


def test_all_missing_current_column_does_not_crash() -> None:
    profile = profile_numeric(np.arange(50.0), bins=5, cdf_points=100)
    drift = column_drift("x", profile, pd.Series([np.nan] * 10), CONFIG)
    assert drift.null_rate_current == 1.0
    assert not drift.drifted


def test_report_names_never_overwrite_an_earlier_report(tmp_path: Path) -> None:
    from reprokit.monitoring.report import report_paths

    first = report_paths(tmp_path, "2026-11-24T17:04:18+00:00")
    assert first.html.name == "20261124-170418-report.html"
    first.json.write_text("{}", encoding="utf-8")
    second = report_paths(tmp_path, "2026-11-24T17:04:18+00:00")
    assert second.html.name == "20261124-170418-2-report.html"
