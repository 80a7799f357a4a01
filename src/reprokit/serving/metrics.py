"""reprokit's own Prometheus metrics, exposed on BentoML's `/metrics` next to BentoML's.

BentoML 1.4.40 deprecates its `bentoml.metrics` wrapper in favour of `prometheus_client`
itself, with one rule: import `prometheus_client` only once the worker process has set
`PROMETHEUS_MULTIPROC_DIR` (it then writes to the multiprocess files that BentoML's
`/metrics` endpoint merges). So nothing here imports it at module level: the metrics are
created on first use, in the worker (`serving_metrics()`), and every worker's values add
up in `/metrics`.

What one scrape shows with several workers (`REPROKIT_WORKERS`; any worker answers it, from
every worker's files): counters and histograms are the sums over the workers, dead ones
included (a restarted worker's counts are not lost); the gauges are `livemax`, the largest
value among the live workers: `reprokit_model_info` and `reprokit_canary_share` agree across
workers, and the drift gauges (reprokit.monitoring.live) show the worst window: each worker
keeps its own window over the requests it answered, so `reprokit_drift_psi` and `_alarm`
are the largest PSI / any worker's alarm, `_window_rows` the fullest window (not the sum),
`_last_request_timestamp_seconds` the latest request, and `_prediction_share` each bin's
largest share (per bin, so the bins need not sum to 1).

| metric | type | labels |
|---|---|---|
| `reprokit_requests_total` | counter | model, role, outcome |
| `reprokit_request_duration_seconds` | histogram | model, role |
| `reprokit_prediction` | histogram | model, role |
| `reprokit_model_info` | gauge (1) | tag, version, fingerprint, role |
| `reprokit_shadow_skipped_total` | counter | model |
| `reprokit_batch_requests` | histogram | model (requests per batched predict call) |
| `reprokit_batch_shed_total` | counter | model (requests scored alone, past the latency budget) |
| `reprokit_canary_share` | gauge | model (the share of callers a ramping canary serves; 0 after) |
| `reprokit_canary_rollbacks_total` | counter | model, reason (error_rate, drift, registry) |
| `reprokit_prediction_cpu_seconds_total` | counter | (none) |
| `reprokit_predicted_rows_total` | counter | (none) |

`reprokit_prediction` observes P(positive class) for binary classifiers, P(predicted
label) for multiclass ones and the value for regression.

`model` is the BentoML tag that answered (`none` when a request was refused before a
model was chosen); `role` is champion, challenger (a split), shadow or canary (a new
champion ramping in, reprokit.serving.canary).

What a prediction costs: `reprokit_prediction_cpu_seconds_total` is the workers' process CPU
time (every thread: the event loop, BentoML, LightGBM) from the moment the worker's metrics
exist (after imports, before the model loads), brought up to date by the scored requests (at
most every 10 ms, `ProcessCpu`); `reprokit_predicted_rows_total` counts the rows answered
(shadow scorings are CPU the service pays, not answers). Both are counters, so the scrape
sums them over the workers, and CPU-seconds per 1k predictions is a PromQL ratio (README:
What a run costs):

    1000 * sum(rate(reprokit_prediction_cpu_seconds_total[5m]))
      / sum(rate(reprokit_predicted_rows_total[5m]))

Extension point: `ServingMetrics.add_observer(observer)` registers a
`PredictionObserver`; after every scored request (champion, challenger or shadow) it gets
a `PredictionEvent` with the validated request frame and the prediction values. Live drift
gauges (reprokit.monitoring) plug in there; they create their own gauges through
`ServingMetrics.prometheus`. An observer's exception is logged and never fails a request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import pandas as pd

from reprokit.serving.ab import SHADOW
from reprokit.serving.bundle import ModelInfo

NO_MODEL = "none"
ROLES = ("champion", "challenger", SHADOW, "canary")
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PROBABILITY_BUCKETS = tuple(round(0.05 * step, 2) for step in range(1, 21))
# Regression outputs have no known scale: decades on both sides of zero.
VALUE_BUCKETS = (
    *(-(10.0**power) for power in range(6, -1, -1)),
    0.0,
    *(10.0**power for power in range(0, 7)),
)

# How often the CPU counter steps at most (see ProcessCpu).
CPU_STEP_SECONDS = 0.01

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictionEvent:
    """One scored request, as an observer sees it."""

    model: str
    role: str
    frame: pd.DataFrame  # the validated request (training dtypes), never logged
    values: np.ndarray[Any, Any]  # one prediction value per row (see module docstring)


class PredictionObserver(Protocol):
    def observe(self, event: PredictionEvent) -> None: ...


def prediction_buckets(task: str) -> tuple[float, ...]:
    return VALUE_BUCKETS if task == "regression" else PROBABILITY_BUCKETS


def observe_many(child: Any, values: np.ndarray[Any, Any]) -> None:
    """`child.observe(v)` for every finite v, in one pass per bucket instead of per value.

    prometheus_client has no bulk observe, and per-row calls cost ~1000 file writes for a
    1000-row request in multiprocess mode. This uses the histogram child's bucket values
    (prometheus_client 0.2x internals), falling back to `observe` when they are absent.
    """
    finite = values[np.isfinite(values)]
    bounds = getattr(child, "_upper_bounds", None)
    buckets = getattr(child, "_buckets", None)
    total = getattr(child, "_sum", None)
    if bounds is None or buckets is None or total is None:
        for value in finite.tolist():
            child.observe(value)
        return
    if finite.size == 0:
        return
    # Each value counts in the first bucket whose upper bound is >= it (prometheus' rule).
    counts = np.bincount(np.searchsorted(np.asarray(bounds), finite, side="left"))
    for index, count in enumerate(counts.tolist()):
        if count:
            buckets[index].inc(count)
    total.inc(float(finite.sum()))


class ServingMetrics:
    """The metric objects of one worker process, and the observers of predictions."""

    def __init__(self, prometheus: ModuleType, task: str = "binary") -> None:
        self.prometheus = prometheus
        self.requests = prometheus.Counter(
            "reprokit_requests_total",
            "Prediction requests by the model that answered and the outcome",
            ["model", "role", "outcome"],
        )
        self.latency = prometheus.Histogram(
            "reprokit_request_duration_seconds",
            "Time to answer a prediction request (shadow: the challenger's own scoring time)",
            ["model", "role"],
            buckets=LATENCY_BUCKETS,
        )
        self.predictions = prometheus.Histogram(
            "reprokit_prediction",
            "Predictions: P(positive class), P(predicted label) or the regression value",
            ["model", "role"],
            buckets=prediction_buckets(task),
        )
        # livemax: a dead worker's series disappears; live workers agree on the value 1.
        self.model_info = prometheus.Gauge(
            "reprokit_model_info",
            "The models this service serves (value 1)",
            ["tag", "version", "fingerprint", "role"],
            multiprocess_mode="livemax",
        )
        self.reloads = prometheus.Counter(
            "reprokit_model_reloads",
            "Champion re-resolutions that switched, started a canary or failed to load it",
            ["outcome"],
        )
        self.shadow_skipped = prometheus.Counter(
            "reprokit_shadow_skipped_total",
            "Shadow scorings skipped because too many were already running",
            ["model"],
        )
        self.batch_requests = prometheus.Histogram(
            "reprokit_batch_requests",
            "Requests per batched Booster.predict call (batching on)",
            ["model"],
            buckets=BATCH_BUCKETS,
        )
        self.batch_shed = prometheus.Counter(
            "reprokit_batch_shed",
            "Requests the batcher gave up on (over max_latency_ms) and scored alone",
            ["model"],
        )
        # livemax: each worker ramps on its own (reprokit.serving.canary); the largest shows.
        self.canary_share = prometheus.Gauge(
            "reprokit_canary_share",
            "Share of the callers the canary serves during its ramp (0: no ramp)",
            ["model"],
            multiprocess_mode="livemax",
        )
        self.canary_rollbacks = prometheus.Counter(
            "reprokit_canary_rollbacks",
            "Canary ramps rolled back, by the reason",
            ["model", "reason"],
        )
        self.prediction_cpu = prometheus.Counter(
            "reprokit_prediction_cpu_seconds",
            "CPU seconds of the worker processes, counted at each scored request",
        )
        self.predicted_rows = prometheus.Counter(
            "reprokit_predicted_rows",
            "Rows the service answered with a prediction (not shadow scorings)",
        )
        self._cpu = ProcessCpu()
        self.observers: list[PredictionObserver] = []

    def add_observer(self, observer: PredictionObserver) -> None:
        """Call `observer.observe(event)` after every scored request (see the docstring)."""
        self.observers.append(observer)

    def record_request(self, model: str, role: str, outcome: str, seconds: float) -> None:
        self.requests.labels(model=model, role=role, outcome=outcome).inc()
        self.latency.labels(model=model, role=role).observe(seconds)

    def record_model(self, info: ModelInfo, role: str, *, serving: bool = True) -> None:
        """The model's info series: 1 while it serves in `role`, 0 once it no longer does
        (in multiprocess mode a removed series would stay in the worker's file at 1)."""
        self.model_info.labels(
            tag=info.tag,
            version=info.model_version or "",
            fingerprint=(info.fingerprint or "")[:12],
            role=role,
        ).set(1 if serving else 0)

    def remove_observer(self, observer: PredictionObserver) -> None:
        self.observers.remove(observer)

    def record_predictions(self, event: PredictionEvent) -> None:
        observe_many(self.predictions.labels(model=event.model, role=event.role), event.values)
        used = self._cpu.used()
        if used:
            self.prediction_cpu.inc(used)
        if event.role != SHADOW:
            self.predicted_rows.inc(len(event.values))
        for observer in self.observers:
            try:
                observer.observe(event)
            except Exception:  # an observer must never fail or slow down a request twice
                log.exception("reprokit serving: metrics observer %r failed", observer)


class ProcessCpu:
    """This process's CPU time in increments: `used()` returns what it used since the last
    increment, so no CPU second is counted twice, whichever thread or request asks.

    At most one increment per `every` seconds of wall time: a request pays one monotonic
    clock read (~0.1 µs), not a CPU clock read and a counter's file write (~3 µs in
    multiprocess mode). The counter then lags the process by at most `every` seconds, and
    only until the next request.
    """

    def __init__(self, every: float = CPU_STEP_SECONDS) -> None:
        self._every = every
        self._lock = threading.Lock()
        self._stepped = time.monotonic()
        self._seen = time.process_time()

    def used(self) -> float:
        if time.monotonic() - self._stepped < self._every:
            return 0.0
        with self._lock:
            self._stepped = time.monotonic()
            now = time.process_time()
            used, self._seen = max(0.0, now - self._seen), max(now, self._seen)
        return used


_PROCESS: dict[str, ServingMetrics] = {}  # this process's one instance (a registry allows
# each metric name once)


def serving_metrics(task: str = "binary") -> ServingMetrics:
    """This process's metrics, created on first call (in the worker, see the docstring).

    `task` picks the prediction histogram's buckets; only the first call's counts (the
    service makes it, at start-up, before the middleware counts any request).
    """
    if "metrics" not in _PROCESS:
        import prometheus_client

        _PROCESS["metrics"] = ServingMetrics(prometheus_client, task)
    return _PROCESS["metrics"]


def metric_names() -> Sequence[str]:
    return (
        "reprokit_requests_total",
        "reprokit_request_duration_seconds",
        "reprokit_prediction",
        "reprokit_model_info",
        "reprokit_model_reloads_total",
        "reprokit_shadow_skipped_total",
        "reprokit_batch_requests",
        "reprokit_batch_shed_total",
        "reprokit_canary_share",
        "reprokit_canary_rollbacks_total",
        "reprokit_prediction_cpu_seconds_total",
        "reprokit_predicted_rows_total",
    )
