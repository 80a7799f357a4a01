"""A model that stops serving (a rolled-back canary, a replaced champion) leaves no drift
series behind that could keep `ReprokitInputDrift` or the stale-gauges alert firing: on a
real prometheus_client registry, in both its single- and multiprocess behaviours."""

from __future__ import annotations

import functools
import math
import time
import types
from typing import Any, cast

import numpy as np
import pandas as pd
import prometheus_client

from reprokit.monitoring.live import (
    GAUGES,
    DriftGauges,
    DriftObserver,
    LiveDriftMonitor,
    LiveSnapshot,
    prometheus_gauge_factory,
)

DRIFTED = LiveSnapshot(
    rows=400,
    requests=10,
    ready=True,
    psi={"income": 0.9, "prediction": 0.05},
    null_rate={"income": 0.0, "prediction": 0.0},
    prediction_share={"0.5": 1.0},
    alarms=("income",),
)


def registry_gauges(multiprocess: bool) -> tuple[prometheus_client.CollectorRegistry, DriftGauges]:
    registry = prometheus_client.CollectorRegistry()
    module = types.SimpleNamespace(
        Gauge=functools.partial(prometheus_client.Gauge, registry=registry)
    )
    return registry, DriftGauges(prometheus_gauge_factory(module), multiprocess=multiprocess)


def samples(registry: prometheus_client.CollectorRegistry, model: str) -> dict[str, float]:
    """`name{labels}` -> value of the drift series of `model`."""
    return {
        f"{sample.name}{sorted(sample.labels.items())}": sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name in GAUGES and sample.labels.get("model") == model
    }


def test_a_retired_models_drift_series_leave_the_registry_and_the_others_stay() -> None:
    registry, gauges = registry_gauges(multiprocess=False)
    for model in ("m:canary", "m:champion"):
        gauges.publish(DRIFTED, model, observed_at=1.7e9)
    kept = samples(registry, "m:champion")

    gauges.retire("m:canary")

    assert samples(registry, "m:canary") == {}
    assert samples(registry, "m:champion") == kept and len(kept) == len(GAUGES) + 3


def test_in_multiprocess_mode_a_retired_series_is_neutral_where_it_cannot_be_removed() -> None:
    registry, gauges = registry_gauges(multiprocess=True)
    gauges.publish(DRIFTED, "m:canary", observed_at=1.7e9)

    gauges.retire("m:canary")

    left = samples(registry, "m:canary")
    alarms = {key: value for key, value in left.items() if key.startswith("reprokit_drift_alarm")}
    assert alarms and set(alarms.values()) == {0.0}  # `== 1` (ReprokitInputDrift) is false
    assert left["reprokit_drift_window_rows[('model', 'm:canary')]"] == 0.0
    # NaN: `time() - NaN > stale_after` (ReprokitDriftGaugesStale) is false too.
    stamp = left["reprokit_drift_last_request_timestamp_seconds[('model', 'm:canary')]"]
    psi = left["reprokit_drift_psi[('column', 'income'), ('model', 'm:canary')]"]
    assert math.isnan(stamp) and math.isnan(psi)


class Window:
    """A drift window that always reports the drifted snapshot."""

    def observe(self, frame: pd.DataFrame, predictions: np.ndarray[Any, Any]) -> None:
        pass

    def snapshot(self) -> LiveSnapshot:
        return DRIFTED


def test_a_retired_observer_publishes_nothing_more_not_even_a_pending_publish() -> None:
    registry, gauges = registry_gauges(multiprocess=False)
    observer = DriftObserver(cast(LiveDriftMonitor, Window()), gauges, "m:2", publish_every_s=0.1)
    event = types.SimpleNamespace(
        model="m:2", role="canary", frame=pd.DataFrame({"x": [1]}), values=np.zeros(1)
    )
    observer.observe(event)  # published at once
    observer.observe(event)  # inside the interval: a pending publish
    observer.retire()
    observer.observe(event)  # in flight when the canary ended
    time.sleep(0.3)
    assert samples(registry, "m:2") == {}
