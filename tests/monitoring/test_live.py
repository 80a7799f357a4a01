"""The service's live drift window: bounded memory, exact incremental counts, PSI equal to
the batch computation, alarms logged once with hysteresis, gauges, the observer adapter,
and the per-request update cost."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest
from structlog.testing import capture_logs

from reprokit.config.models import LiveMonitoringConfig, SchemaSpec
from reprokit.datagen.credit import drift_credit, generate_credit
from reprokit.monitoring.drift import column_drift
from reprokit.monitoring.live import GAUGES, DriftGauges, DriftObserver, LiveDriftMonitor
from reprokit.nodes.profile import (
    PREDICTION,
    ReferenceProfile,
    profile_categorical,
    profile_numeric,
)

NUMERIC = ["age", "income", "loan_amount", "num_late_payments"]
CATEGORICAL = ["purpose", "region"]


def _scores(frame: pd.DataFrame) -> np.ndarray[Any, Any]:
    """A stand-in model output in [0, 1] that moves with income (so drift shows in it)."""
    income = frame["income"].fillna(40_000.0).to_numpy(dtype=float)
    return 1.0 / (1.0 + income / 40_000.0)


@cache
def profile() -> ReferenceProfile:
    train = generate_credit(7000, seed=7)
    columns: dict[str, Any] = {
        c: profile_numeric(train[c].to_numpy(dtype=float), 10, 200) for c in NUMERIC
    }
    columns.update({c: profile_categorical(train[c]) for c in CATEGORICAL})
    return ReferenceProfile(
        version=1,
        task="binary",
        target="default",
        model_sha256="0" * 64,
        feature_rows=len(train),
        prediction_rows=len(train),
        bins=10,
        columns=columns,
        prediction=profile_numeric(_scores(train), 10, 200),
        classes=[0, 1],
        data_schema=SchemaSpec(columns={"age": {"dtype": "float64"}}),  # type: ignore[dict-item]
    )


def monitor(window: int = 1000, min_rows: int = 200) -> LiveDriftMonitor:
    config = LiveMonitoringConfig(window=window, min_rows=min_rows, clear_ratio=0.75)
    return LiveDriftMonitor(profile(), config, psi_threshold=0.2, model="m", check_every_s=0.0)


def feed(live: LiveDriftMonitor, frame: pd.DataFrame, request_rows: int) -> None:
    for start in range(0, len(frame), request_rows):
        part = frame.iloc[start : start + request_rows]
        live.observe(part, _scores(part))


def test_window_counts_equal_a_recount_of_the_last_rows() -> None:
    live = monitor(window=500)
    fresh = generate_credit(1777, seed=8)
    feed(live, fresh, request_rows=37)  # requests straddle the ring's end many times
    last = fresh.iloc[-500:]
    snapshot = live.snapshot()
    assert snapshot.rows == 500
    assert snapshot.requests == -(-1777 // 37)
    for name in [*NUMERIC, *CATEGORICAL]:
        batch = column_drift(name, profile().columns[name], last[name])
        assert snapshot.psi[name] == pytest.approx(batch.psi, abs=1e-9), name
        assert snapshot.null_rate[name] == pytest.approx(batch.null_rate_current)
    predictions = column_drift(PREDICTION, profile().prediction, _scores(last))
    assert snapshot.psi[PREDICTION] == pytest.approx(predictions.psi, abs=1e-9)
    assert list(snapshot.prediction_share.values()) == pytest.approx(predictions.current)


def test_memory_is_bounded_by_the_window() -> None:
    live = monitor(window=300)
    ring_bytes = live._ring.nbytes
    feed(live, generate_credit(3000, seed=9), request_rows=1)
    assert live._ring.nbytes == ring_bytes == 300 * (len(NUMERIC) + len(CATEGORICAL) + 1) * 4
    assert live.snapshot().rows == 300
    # A request bigger than the window keeps its last `window` rows.
    big = generate_credit(1000, seed=10)
    live.observe(big, _scores(big))
    assert live.snapshot().rows == 300
    assert int(live._counts.sum()) == 300 * live._ring.shape[1]


def test_drift_alarm_is_logged_once_and_cleared_with_hysteresis() -> None:
    live = monitor(window=400, min_rows=200)
    fresh = generate_credit(4000, seed=8)
    drifted = drift_credit(generate_credit(2000, seed=12), seed=12)
    with capture_logs() as logs:
        feed(live, fresh.iloc[:1000], request_rows=10)
        assert live.snapshot().alarms == ()
        feed(live, drifted, request_rows=10)  # 200 requests, all drifted
        raised = set(live.snapshot().alarms)
        feed(live, fresh.iloc[1000:], request_rows=10)
    warnings = [e for e in logs if e["event"] == "monitoring.live_drift"]
    cleared = [e for e in logs if e["event"] == "monitoring.live_drift_cleared"]
    assert raised == {"income", "loan_amount", "purpose", PREDICTION}
    # Once per column, not once per drifted request.
    assert sorted(e["column"] for e in warnings) == sorted(raised)
    assert all(e["log_level"] == "warning" and e["psi"] >= 0.2 for e in warnings)
    assert sorted(e["column"] for e in cleared) == sorted(raised)
    assert live.snapshot().alarms == ()


def test_alarms_are_checked_at_most_every_check_interval() -> None:
    now = [0.0]
    config = LiveMonitoringConfig(window=400, min_rows=100)
    live = LiveDriftMonitor(profile(), config, check_every_s=10.0, clock=lambda: now[0])
    drifted = drift_credit(generate_credit(400, seed=12), seed=12)
    with capture_logs() as logs:
        live.observe(drifted.iloc[:10], _scores(drifted.iloc[:10]))  # checked: too few rows
        live.observe(drifted.iloc[10:], _scores(drifted.iloc[10:]))  # within 10 s: not checked
        assert live.snapshot().alarms == ()
        now[0] = 11.0
        live.observe(drifted.iloc[:1], _scores(drifted.iloc[:1]))
    assert "income" in live.snapshot().alarms
    assert [e["column"] for e in logs if e.get("column") == "income"] == ["income"]


def test_no_verdict_before_min_rows() -> None:
    live = monitor(window=1000, min_rows=500)
    drifted = drift_credit(generate_credit(400, seed=12), seed=12)
    with capture_logs() as logs:
        feed(live, drifted, request_rows=50)
    assert not [e for e in logs if e["event"] == "monitoring.live_drift"]
    assert live.snapshot().ready is False


@dataclass
class FakeGauge:
    values: dict[tuple[tuple[str, str], ...], float] = field(default_factory=dict)
    current: tuple[tuple[str, str], ...] = ()

    def labels(self, **labels: str) -> FakeGauge:
        self.current = tuple(sorted(labels.items()))
        return self

    def set(self, value: float) -> None:
        self.values[self.current] = value


def test_gauges_publish_psi_alarms_nulls_and_prediction_shares() -> None:
    made: dict[str, FakeGauge] = {}

    def factory(name: str, documentation: str, labelnames: list[str]) -> FakeGauge:
        assert documentation and labelnames[0] == "model"
        made[name] = FakeGauge()
        return made[name]

    gauges = DriftGauges(factory)
    assert set(made) == set(GAUGES)
    live = monitor(window=400, min_rows=100)
    feed(live, drift_credit(generate_credit(400, seed=12), seed=12), request_rows=40)
    gauges.publish(live.snapshot(), "m")
    psi = made["reprokit_drift_psi"].values
    assert psi[(("column", "income"), ("model", "m"))] > 0.2
    assert psi[(("column", "age"), ("model", "m"))] < 0.1
    assert made["reprokit_drift_alarm"].values[(("column", "income"), ("model", "m"))] == 1.0
    assert made["reprokit_drift_window_rows"].values[(("model", "m"),)] == 400
    shares = made["reprokit_drift_prediction_share"].values
    assert sum(shares.values()) == pytest.approx(1.0)


@dataclass
class Event:
    model: str
    role: str
    frame: pd.DataFrame
    values: np.ndarray[Any, Any]


class RecordingGauges(DriftGauges):
    def __init__(self) -> None:
        self.published: list[tuple[int, float | None]] = []

    def publish(self, snapshot: Any, model: str, observed_at: float | None = None) -> None:
        self.published.append((snapshot.requests, observed_at))


def test_observer_feeds_its_model_only_and_throttles_publishing() -> None:
    live = monitor()
    gauges = RecordingGauges()
    now = [0.0]
    observer = DriftObserver(
        live, gauges, "m", publish_every_s=1.0, clock=lambda: now[0], wall_clock=lambda: 1e9
    )
    frame = generate_credit(10, seed=8)
    for role, model in [("champion", "m"), ("shadow", "m"), ("champion", "other")]:
        observer.observe(Event(model, role, frame, _scores(frame)))
    assert live.snapshot().requests == 1
    observer.observe(Event("m", "challenger", frame, _scores(frame)))  # 0 s later: deferred
    now[0] = 1.5
    observer.observe(Event("m", "champion", frame, _scores(frame)))
    assert gauges.published[:2] == [(1, 1e9), (3, 1e9)]


def test_the_last_requests_before_traffic_stops_are_published() -> None:
    """Before: a request inside the publish interval waited for the next request, so the
    gauges of a model that went quiet never showed its last requests."""
    live = monitor()
    gauges = RecordingGauges()
    observer = DriftObserver(live, gauges, "m", publish_every_s=0.05)
    frame = generate_credit(10, seed=8)
    for _ in range(3):
        observer.observe(Event("m", "champion", frame, _scores(frame)))
    assert [requests for requests, _ in gauges.published] == [1]
    time.sleep(0.3)
    assert [requests for requests, _ in gauges.published] == [1, 3]
    assert gauges.published[-1][1] == pytest.approx(time.time(), abs=5)


def test_missing_column_and_unseen_values_are_counted_not_fatal() -> None:
    live = monitor(window=100, min_rows=1)
    frame = generate_credit(20, seed=8).drop(columns=["region"])
    frame["purpose"] = ["never-seen"] * 10 + [None] * 10
    live.observe(frame, _scores(frame))
    snapshot = live.snapshot()
    assert snapshot.null_rate["region"] == 1.0
    assert snapshot.null_rate["purpose"] == 0.5
    assert snapshot.psi["purpose"] > 1.0  # half the rows in the unseen bin


def test_update_cost_per_request_is_small() -> None:
    """Recorded in bench/bench_monitor.py against the prediction time; here a loose bound
    so that an accidental O(window) update fails loudly."""
    live = monitor(window=5000)
    one = generate_credit(1, seed=8)
    scores = _scores(one)
    for _ in range(50):
        live.observe(one, scores)
    started = time.perf_counter()
    for _ in range(500):
        live.observe(one, scores)
    per_request = (time.perf_counter() - started) / 500
    assert per_request < 0.002, per_request


def test_real_prometheus_gauges_render_in_the_exposition_format() -> None:
    import functools
    import types

    import prometheus_client

    from reprokit.monitoring.live import prometheus_gauge_factory

    registry = prometheus_client.CollectorRegistry()
    module = types.SimpleNamespace(
        Gauge=functools.partial(prometheus_client.Gauge, registry=registry)
    )
    gauges = DriftGauges(prometheus_gauge_factory(module))
    live = monitor(window=400, min_rows=100)
    feed(live, drift_credit(generate_credit(400, seed=12), seed=12), request_rows=40)
    gauges.publish(live.snapshot(), "reprokit-credit:v1", observed_at=1.7e9)
    text = prometheus_client.generate_latest(registry).decode()
    assert 'reprokit_drift_alarm{column="income",model="reprokit-credit:v1"} 1.0' in text
    assert 'reprokit_drift_window_rows{model="reprokit-credit:v1"} 400.0' in text
    assert (
        'reprokit_drift_last_request_timestamp_seconds{model="reprokit-credit:v1"} 1.7e+09' in text
    )
    assert text.count("reprokit_drift_psi{") == len(NUMERIC) + len(CATEGORICAL) + 1
