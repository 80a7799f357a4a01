"""What a prediction costs (reprokit.serving.metrics): the worker's CPU counted once, in steps,
and the rows answered (shadow scorings are not answers), on a real prometheus_client registry."""

from __future__ import annotations

import functools
import hashlib
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import prometheus_client

from reprokit.serving.metrics import PredictionEvent, ProcessCpu, ServingMetrics


def _busy(seconds: float) -> None:
    digest, until = b"", time.process_time() + seconds
    while time.process_time() < until:
        digest = hashlib.sha256(digest * 8).digest()


def test_the_cpu_increments_add_up_to_the_process_clock_without_counting_twice() -> None:
    cpu = ProcessCpu(every=0.0)
    before = time.process_time()
    steps = []
    for _ in range(5):
        _busy(0.01)
        steps.append(cpu.used())
    assert all(step > 0 for step in steps)
    assert abs(sum(steps) - (time.process_time() - before)) < 0.005
    assert cpu.used() < 0.001  # nothing new since the last step


def test_between_steps_a_request_pays_no_cpu_clock_read() -> None:
    cpu = ProcessCpu(every=3600.0)
    _busy(0.01)
    assert cpu.used() == 0.0


def test_rows_count_answers_not_shadow_scorings_and_cpu_grows() -> None:
    registry = prometheus_client.CollectorRegistry()
    bound = {
        name: functools.partial(getattr(prometheus_client, name), registry=registry)
        for name in ("Counter", "Gauge", "Histogram")
    }
    prometheus: Any = SimpleNamespace(**bound)
    metrics = ServingMetrics(prometheus)
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    values = np.array([0.1, 0.5, 0.9])
    _busy(0.02)
    time.sleep(0.02)  # past the CPU counter's 10 ms step
    metrics.record_predictions(PredictionEvent("m:1", "champion", frame, values))
    metrics.record_predictions(PredictionEvent("m:2", "shadow", frame, values))
    assert registry.get_sample_value("reprokit_predicted_rows_total") == 3.0
    cpu = registry.get_sample_value("reprokit_prediction_cpu_seconds_total")
    assert cpu is not None and cpu >= 0.02
