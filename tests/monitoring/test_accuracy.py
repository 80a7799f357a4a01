"""Accuracy of `reprokit monitor`'s verdict (the whole Evidently report at the default
thresholds of conf/monitoring) on the demo generator's data, with a model trained by the
project's own nodes: the measurement of `bench/bench_monitor.py --accuracy`, fixed seeds.

- The demo drift (`reprokit data generate --drift`) is found on exactly the columns it
  changes (income, loan_amount, purpose) and on the predictions, at 5,000 and at 300 rows.
- Fresh samples of the training distribution (another seed of the same world) fail no test:
  the false alarms over 20 disjoint 500-row samples are counted and bounded (each sample
  costs about 2 s of Evidently; the benchmark measures 50).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from bench.bench_monitor import DEMO_DRIFT, accuracy, params, reference

from reprokit.nodes.profile import PREDICTION

pytestmark = pytest.mark.slow
SAMPLES = 20
# Measured (fixed seeds, so exactly reproducible): 0/20 here; bench/bench_monitor.py
# --accuracy 50 measures 0/50 at 500 and at 2,000 rows. See README "Monitoring".
MEASURED_FALSE_ALARMS = {500: 0}


@cache
def prepared() -> dict[str, Any]:
    config = params()
    model, state, profile, sample = reference(config)
    return {
        "model": model,
        "feature_state": state,
        "profile": profile,
        "sample": sample,
        "monitoring": config["monitoring"],
    }


def test_demo_drift_is_found_on_its_columns_at_5000_and_300_rows() -> None:
    found = accuracy(prepared(), 0, fresh_sizes=())["demo_drift"]
    for rows in ("5000", "300"):
        assert set(found[rows]["drifted"]) == {*DEMO_DRIFT, PREDICTION}, found[rows]


def test_false_alarms_on_20_fresh_samples() -> None:
    fresh = accuracy(prepared(), SAMPLES, fresh_sizes=(500,), drift_sizes=())["fresh"]["500"]
    print(f"false alarms at 500 rows: {fresh['false_alarms']}/{SAMPLES}", fresh["failed_tests"])
    assert fresh["false_alarms"] == MEASURED_FALSE_ALARMS[500], fresh["failed_tests"]
    assert fresh["false_alarms"] / SAMPLES <= 0.04
