"""Accuracy of the alarms at the default thresholds, on the demo generator's data.

- The demo drift (`reprokit data generate --drift`) is detected on exactly the columns it
  changes (income, loan_amount, purpose) and on none of the stable ones.
- Fresh samples of the training distribution (another seed of the same world) raise no
  alarm: the false-alarm rate over 50 disjoint samples is measured and bounded.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from reprokit.config.models import MonitoringConfig
from reprokit.datagen.credit import drift_credit, generate_credit
from reprokit.monitoring.drift import column_drift
from reprokit.nodes.profile import ColumnProfile, profile_categorical, profile_numeric

NUMERIC = [
    "age",
    "income",
    "employment_years",
    "loan_amount",
    "loan_term_months",
    "monthly_debt",
    "num_open_accounts",
    "num_late_payments",
]
CATEGORICAL = ["home_ownership", "purpose", "region"]
DRIFTED = {"income", "loan_amount", "purpose"}
CONFIG = MonitoringConfig()
SAMPLES = 50
MEASURED_FALSE_ALARMS = {500: 1, 2000: 0}


@cache
def reference() -> dict[str, ColumnProfile]:
    """The train split of the demo is 70% of seed 7's 10,000 rows; 7,000 rows here."""
    train = generate_credit(7000, seed=7)
    profiles: dict[str, ColumnProfile] = {
        c: profile_numeric(train[c].to_numpy(dtype=float), CONFIG.bins, CONFIG.cdf_points)
        for c in NUMERIC
    }
    profiles.update({c: profile_categorical(train[c]) for c in CATEGORICAL})
    return profiles


def drifted_columns(frame: pd.DataFrame) -> set[str]:
    return {
        name
        for name, profile in reference().items()
        if column_drift(name, profile, frame[name], CONFIG).drifted
    }


def test_demo_drift_is_detected_on_the_drifted_columns_only() -> None:
    batch = drift_credit(generate_credit(5000, seed=12), seed=12)
    assert drifted_columns(batch) == DRIFTED


def test_demo_drift_is_detected_even_on_a_small_batch() -> None:
    batch = drift_credit(generate_credit(300, seed=13), seed=13)
    assert drifted_columns(batch) == DRIFTED


@pytest.mark.parametrize("rows", [500, 2000])
def test_false_alarm_rate_on_fresh_samples(rows: int) -> None:
    fresh = generate_credit(SAMPLES * rows, seed=8)
    alarms = [
        sorted(drifted_columns(fresh.iloc[i * rows : (i + 1) * rows])) for i in range(SAMPLES)
    ]
    false_alarms = sum(bool(found) for found in alarms)
    rate = false_alarms / SAMPLES
    print(f"false-alarm rate at {rows} rows: {false_alarms}/{SAMPLES} = {rate:.0%}")
    # Measured (fixed seeds, so exactly reproducible): 1/50 at 500 rows (monthly_debt, KS
    # 0.108, p 3e-5, on one sample), 0/50 at 2000 rows. See README "Monitoring".
    assert false_alarms == MEASURED_FALSE_ALARMS[rows], alarms
    assert rate <= 0.02


def test_drift_rows_depend_only_on_seed_and_row() -> None:
    whole = drift_credit(generate_credit(200, seed=3), seed=3)
    part = drift_credit(generate_credit(200, seed=3).iloc[100:], seed=3)
    pd.testing.assert_frame_equal(whole.iloc[100:], part)
    assert (whole["purpose"] == "buy_now_pay_later").any()
    stable = generate_credit(200, seed=3)
    np.testing.assert_array_equal(whole["age"].to_numpy(), stable["age"].to_numpy())
