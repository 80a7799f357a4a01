"""Live drift in the service: a rolling window of recent request rows, per-column PSI and
the prediction distribution against the reference profile, as Prometheus gauges.

Memory is bounded and updates are incremental: the window is a ring buffer holding, for
each of the last `window` rows, the bin of each monitored column (`window x columns`
int32), and a count vector per bin is kept up to date by adding the new rows' bins and
subtracting the evicted ones. A request costs O(rows x columns); the PSI of every column
is a few vector operations over the counts (O(bins)), whatever the window size.

Alarms (checked at most every `check_every_s`, 250 ms) use hysteresis: a column's alarm
is raised (one structured warning,
`monitoring.live_drift`) when its PSI reaches the threshold on a window of at least
`min_rows` rows, and cleared (one info line) only when the PSI falls below
`threshold * clear_ratio`, so a PSI hovering around the threshold does not log on every
request.

Wiring in the service (see the report of issue 6): build a `LiveDriftMonitor` from the
packaged profile, `DriftGauges(prometheus_gauge_factory(metrics.prometheus))`, and
register `DriftObserver(monitor, gauges, model_tag)` with `ServingMetrics.add_observer`.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from reprokit.config.models import LiveMonitoringConfig
from reprokit.logs import get_logger
from reprokit.monitoring.drift import NEW, PSI_FLOOR, numeric_labels
from reprokit.nodes.profile import (
    PREDICTION,
    ColumnProfile,
    NumericProfile,
    ReferenceProfile,
    category_labels,
    parse_profile,
)

log = get_logger(__name__)

IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
NULL = "(null)"
SMALL_REQUEST_ROWS = 256


def _as_float(values: Any) -> FloatArray:
    """Numbers as float64, missing (None, NaN, pd.NA) and non-numbers as NaN."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):  # pd.NA, or text where a number belongs
        series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
        converted = pd.to_numeric(series, errors="coerce")
        return np.asarray(converted.to_numpy(dtype=np.float64, na_value=np.nan))


@dataclass(frozen=True)
class _Column:
    """How one column's values become bins: numeric cut points, or a category lookup."""

    name: str
    offset: int  # first position of the column's bins in the shared count vector
    value_bins: int  # bins holding values (incl. the unseen-category bin); then 1 null bin
    cuts: FloatArray | None
    lookup: dict[str, int] | None
    reference: FloatArray  # reference fraction per value bin

    @property
    def null_bin(self) -> int:
        return self.offset + self.value_bins


def _column(name: str, profile: ColumnProfile, offset: int) -> _Column:
    if isinstance(profile, NumericProfile):
        return _Column(
            name=name,
            offset=offset,
            value_bins=len(profile.cuts) + 1,
            cuts=np.asarray(profile.cuts, dtype=np.float64),
            lookup=None,
            reference=np.asarray(profile.fractions, dtype=np.float64),
        )
    categories = list(profile.categories)
    return _Column(
        name=name,
        offset=offset,
        value_bins=len(categories) + 1,  # + the unseen-category bin
        cuts=None,
        lookup={label: code for code, label in enumerate(categories)},
        reference=np.append(np.asarray(profile.fractions, dtype=np.float64), 0.0),
    )


def _bin_labels(profile: ColumnProfile) -> list[str]:
    if isinstance(profile, NumericProfile):
        return numeric_labels(profile)
    return [*profile.categories, NEW]


@dataclass(frozen=True)
class LiveSnapshot:
    """The window's state; what the gauges publish."""

    rows: int
    requests: int
    ready: bool  # at least `min_rows` rows: drift verdicts are made
    psi: dict[str, float]  # per monitored column, and PREDICTION
    null_rate: dict[str, float]
    prediction_share: dict[str, float]  # per reference bin of the predictions
    alarms: tuple[str, ...]


class LiveDriftMonitor:
    """The rolling window and its drift scores (thread-safe; one per served model)."""

    def __init__(
        self,
        profile: ReferenceProfile | Mapping[str, Any],
        config: LiveMonitoringConfig | None = None,
        psi_threshold: float = 0.2,
        model: str = "",
        *,
        check_every_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.profile = profile if isinstance(profile, ReferenceProfile) else parse_profile(profile)
        self.config = config or LiveMonitoringConfig()
        self.psi_threshold = psi_threshold
        self.model = model
        # Alarms are checked at most this often: the counts stay exact per request, and a
        # verdict every 250 ms is as timely as a scrape while costing a fraction per request.
        self.check_every_s = check_every_s
        self._clock = clock
        self._checked = -math.inf
        columns: list[_Column] = []
        offset = 0
        for name, column_profile in [
            *self.profile.columns.items(),
            (PREDICTION, self.profile.prediction),
        ]:
            column = _column(name, column_profile, offset)
            columns.append(column)
            offset = column.null_bin + 1
        self._columns = columns
        self._prediction_labels = _bin_labels(self.profile.prediction)
        self._size = offset
        # Which column each value bin belongs to, and the reference fraction of each value
        # bin: the PSI of every column at once is then a few vector operations.
        value_positions = [np.arange(c.offset, c.null_bin) for c in columns]
        self._value_bins = np.concatenate(value_positions)
        self._value_owner = np.concatenate(
            [np.full(c.value_bins, i, dtype=np.int64) for i, c in enumerate(columns)]
        )
        self._reference = np.maximum(np.concatenate([c.reference for c in columns]), PSI_FLOOR)
        self._null_bins = np.asarray([c.null_bin for c in columns], dtype=np.int64)
        window = self.config.window
        self._ring = np.zeros((window, len(columns)), dtype=np.int32)
        self._counts = np.zeros(self._size, dtype=np.int64)
        self._next = 0
        self._filled = 0
        self._requests = 0
        self._alarmed: set[str] = set()
        self._lock = threading.Lock()

    # --- per request -----------------------------------------------------------------------

    def observe(self, frame: pd.DataFrame, predictions: np.ndarray[Any, Any]) -> None:
        """Add a scored request: its validated frame and the model's predictions (raw
        output, or one value per row as the service's metrics observers receive it)."""
        if len(frame) == 0:
            return
        bins = self._encode(frame, np.asarray(predictions))
        now = self._clock()
        with self._lock:
            self._push(bins)
            self._requests += 1
            if now - self._checked < self.check_every_s:
                return
            self._checked = now
            scores = self._psi_locked()
            rows = self._filled
        self._update_alarms(scores, rows)

    def _encode(
        self, frame: pd.DataFrame, predictions: np.ndarray[Any, Any]
    ) -> np.ndarray[Any, Any]:
        """Each row's bin per column; a column the request lacks counts as missing.

        A pandas column access costs tens of microseconds, more than the binning of a
        small request: a small request is taken out of pandas in one call (an object
        matrix) and binned from there; a large one column by column, vectorised.
        """
        rows = len(frame)
        bins = np.empty((rows, len(self._columns)), dtype=np.int32)
        small = rows <= SMALL_REQUEST_ROWS
        matrix = frame.to_numpy(dtype=object) if small else None
        positions = {str(name): i for i, name in enumerate(frame.columns)}
        for i, column in enumerate(self._columns[:-1]):
            position = positions.get(column.name)
            if position is None:
                bins[:, i] = column.null_bin
                continue
            values = matrix[:, position] if matrix is not None else frame[column.name]
            if column.cuts is not None:
                bins[:, i] = self._numeric_bins(column, _as_float(values))
            elif matrix is not None:
                bins[:, i] = self._labels(column, np.asarray(values))
            else:
                bins[:, i] = self._labels_vectorised(column, frame[column.name])
        bins[:, -1] = self._encode_predictions(self._columns[-1], predictions, rows)
        return bins

    @staticmethod
    def _labels_vectorised(column: _Column, values: pd.Series) -> IntArray:
        assert column.lookup is not None
        labels = category_labels(values)
        missing = labels.isna().to_numpy()
        codes = pd.Index(list(column.lookup)).get_indexer(pd.Index(labels.fillna("")))
        codes = np.where(codes < 0, column.value_bins - 1, codes)
        codes = np.where(missing, column.null_bin - column.offset, codes)
        return column.offset + codes.astype(np.int64)

    @staticmethod
    def _labels(column: _Column, values: np.ndarray[Any, Any]) -> IntArray:
        assert column.lookup is not None
        # A dict lookup per value: for the few rows of a request, far cheaper than pandas.
        lookup, unseen = column.lookup, column.value_bins - 1
        null = column.null_bin - column.offset
        codes = [
            null
            if value is None or value != value  # noqa: PLR0124 (NaN is not equal to itself)
            else lookup.get(value if type(value) is str else str(value), unseen)
            for value in values.tolist()
        ]
        return column.offset + np.asarray(codes, dtype=np.int64)

    @staticmethod
    def _numeric_bins(column: _Column, numbers: FloatArray) -> IntArray:
        assert column.cuts is not None
        codes = column.offset + np.searchsorted(column.cuts, numbers, side="right")
        return np.where(np.isnan(numbers), column.null_bin, codes).astype(np.int64)

    def _encode_predictions(
        self, column: _Column, predictions: np.ndarray[Any, Any], rows: int
    ) -> IntArray:
        if self.profile.task == "multiclass":
            if predictions.ndim != 2:  # one value per row carries no class: not monitored
                return np.full(rows, column.null_bin, dtype=np.int64)
            labels = predictions.argmax(axis=1).astype(str).astype(object)
            return self._labels(column, labels)
        numbers = np.asarray(predictions, dtype=np.float64).reshape(-1)
        if len(numbers) != rows:
            return np.full(rows, column.null_bin, dtype=np.int64)
        return self._numeric_bins(column, numbers)

    def _push(self, bins: np.ndarray[Any, Any]) -> None:
        window = self.config.window
        if len(bins) > window:
            bins = bins[-window:]
        count = len(bins)
        positions = (self._next + np.arange(count)) % window
        # Slots below `filled` hold rows (the ring fills from 0): those rows are evicted.
        evicted = positions[positions < self._filled]
        if len(evicted):
            self._counts -= np.bincount(self._ring[evicted].ravel(), minlength=self._size)
        self._ring[positions] = bins
        self._counts += np.bincount(bins.ravel(), minlength=self._size)
        self._next = int((self._next + count) % window)
        self._filled = min(window, self._filled + count)

    # --- scores ----------------------------------------------------------------------------

    def _psi_locked(self) -> FloatArray:
        counts = self._counts[self._value_bins].astype(np.float64)
        present = np.bincount(self._value_owner, weights=counts, minlength=len(self._columns))
        share = counts / np.maximum(present[self._value_owner], 1.0)
        share = np.maximum(share, PSI_FLOOR)
        terms = (share - self._reference) * np.log(share / self._reference)
        scores = np.bincount(self._value_owner, weights=terms, minlength=len(self._columns))
        return np.where(present > 0, scores, 0.0)

    def _update_alarms(self, scores: FloatArray, rows: int) -> None:
        if rows < self.config.min_rows:
            return
        clear_below = self.psi_threshold * self.config.clear_ratio
        for column, score in zip(self._columns, scores.tolist(), strict=True):
            name = column.name
            with self._lock:
                raised = name in self._alarmed
                if not raised and score >= self.psi_threshold:
                    self._alarmed.add(name)
                elif raised and score < clear_below:
                    self._alarmed.discard(name)
                else:
                    continue
            if not raised:
                log.warning(
                    "monitoring.live_drift",
                    column=name,
                    psi=round(score, 4),
                    threshold=self.psi_threshold,
                    window_rows=rows,
                    model=self.model,
                )
            else:
                log.info(
                    "monitoring.live_drift_cleared",
                    column=name,
                    psi=round(score, 4),
                    clear_below=round(clear_below, 4),
                    window_rows=rows,
                    model=self.model,
                )

    def snapshot(self) -> LiveSnapshot:
        with self._lock:
            counts = self._counts.copy()
            scores = self._psi_locked()
            rows, requests, alarms = self._filled, self._requests, tuple(sorted(self._alarmed))
        nulls = counts[self._null_bins]
        prediction = self._columns[-1]
        values = counts[prediction.offset : prediction.null_bin].astype(np.float64)
        total = values.sum()
        shares = values / total if total else np.zeros_like(values)
        return LiveSnapshot(
            rows=rows,
            requests=requests,
            ready=rows >= self.config.min_rows,
            psi={c.name: float(s) for c, s in zip(self._columns, scores.tolist(), strict=True)},
            null_rate={
                c.name: float(n) / rows if rows else 0.0
                for c, n in zip(self._columns, nulls.tolist(), strict=True)
            },
            prediction_share=dict(zip(self._prediction_labels, shares.tolist(), strict=True)),
            alarms=alarms,
        )


# --- Prometheus ------------------------------------------------------------------------------

GaugeFactory = Callable[[str, str, list[str]], Any]

GAUGES: dict[str, tuple[str, list[str]]] = {
    "reprokit_drift_psi": (
        "PSI of each monitored column (and the prediction) over the live window vs training",
        ["model", "column"],
    ),
    "reprokit_drift_alarm": (
        "1 while the column's drift alarm is raised (PSI threshold, with hysteresis)",
        ["model", "column"],
    ),
    "reprokit_drift_null_rate": (
        "Null rate of each column in the live window",
        ["model", "column"],
    ),
    "reprokit_drift_prediction_share": (
        "Share of the window's predictions in each reference bin",
        ["model", "bin"],
    ),
    "reprokit_drift_window_rows": ("Request rows in the live drift window", ["model"]),
    # The gauges above keep their last value while no request comes: an alert rule tells a
    # quiet model from a healthy one by the age of this timestamp.
    "reprokit_drift_last_request_timestamp_seconds": (
        "Unix time of the last request the drift window observed",
        ["model"],
    ),
}


# A retired series' value where it cannot be removed (multiprocess mode): no alarm, no
# rows, and NaN ("no data") elsewhere, which no alert rule compares true (the stale rule's
# `time() - NaN` included).
RETIRED_VALUES: dict[str, float] = {"reprokit_drift_alarm": 0.0, "reprokit_drift_window_rows": 0.0}
# prometheus_client's own test for multiprocess mode (its `remove()` warns and does nothing
# to the worker's file there).
MULTIPROCESS_ENV = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")


def multiprocess_mode() -> bool:
    return any(name in os.environ for name in MULTIPROCESS_ENV)


def prometheus_gauge_factory(prometheus: Any) -> GaugeFactory:
    """Gauges of the `prometheus_client` module; in multiprocess mode each worker has its
    own window and `/metrics` shows the largest score among live workers."""

    def make(name: str, documentation: str, labelnames: list[str]) -> Any:
        return prometheus.Gauge(name, documentation, labelnames, multiprocess_mode="livemax")

    return make


class DriftGauges:
    """The drift gauges, created once through `factory(name, documentation, labelnames)`,
    and the series each model published (so a model that stops serving can be retired)."""

    def __init__(self, factory: GaugeFactory, *, multiprocess: bool | None = None) -> None:
        self.gauges = {name: factory(name, doc, labels) for name, (doc, labels) in GAUGES.items()}
        self.multiprocess = multiprocess_mode() if multiprocess is None else multiprocess
        # model -> (gauge name, the labels after `model`) of every series it set.
        self._series: dict[str, set[tuple[str, tuple[str, ...]]]] = {}
        self._lock = threading.Lock()

    def _child(self, name: str, model: str, labels: tuple[str, ...]) -> Any:
        names = GAUGES[name][1]
        return self.gauges[name].labels(**dict(zip(names, (model, *labels), strict=True)))

    def _set(self, name: str, model: str, value: float, *labels: str) -> None:
        with self._lock:
            self._series.setdefault(model, set()).add((name, labels))
            self._child(name, model, labels).set(value)

    def publish(self, snapshot: LiveSnapshot, model: str, observed_at: float | None = None) -> None:
        """`observed_at`: the Unix time of the last request in `snapshot`."""
        if observed_at is not None:
            self._set("reprokit_drift_last_request_timestamp_seconds", model, observed_at)
        alarms = set(snapshot.alarms)
        for column, score in snapshot.psi.items():
            # Before `min_rows` a PSI is mostly noise: publish NaN (no data), not a number.
            value = score if snapshot.ready else math.nan
            self._set("reprokit_drift_psi", model, value, column)
            self._set("reprokit_drift_alarm", model, 1.0 if column in alarms else 0.0, column)
        for column, rate in snapshot.null_rate.items():
            self._set("reprokit_drift_null_rate", model, rate, column)
        for label, share in snapshot.prediction_share.items():
            self._set("reprokit_drift_prediction_share", model, share, label)
        self._set("reprokit_drift_window_rows", model, snapshot.rows)

    def retire(self, model: str) -> None:
        """`model` no longer serves: its series leave /metrics, so no drift alarm or stale
        gauge of it keeps firing. In multiprocess mode a series cannot leave the worker's
        file: it is set to `RETIRED_VALUES` instead (NaN where none is given)."""
        with self._lock:
            series = self._series.pop(model, set())
            for name, labels in sorted(series):
                if self.multiprocess:
                    self._child(name, model, labels).set(RETIRED_VALUES.get(name, math.nan))
                else:
                    self.gauges[name].remove(model, *labels)
        if series:
            log.info("monitoring.drift_gauges_retired", model=model, series=len(series))


class ScoredRequest(Protocol):
    """What the service's metrics observers receive (reprokit.serving.metrics); read-only,
    so the service's frozen event dataclass satisfies it."""

    @property
    def model(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def frame(self) -> pd.DataFrame: ...
    @property
    def values(self) -> np.ndarray[Any, Any]: ...


class DriftObserver:
    """A `ServingMetrics` observer: feeds the model's own requests to its monitor and
    publishes the gauges at most every `publish_every_s` seconds (a scrape interval is
    seconds long; setting ~50 gauges on every request would cost more than the update).

    A request that arrives inside the interval is published when it ends (a timer), so the
    last requests before traffic stops are never left out of the gauges."""

    def __init__(
        self,
        monitor: LiveDriftMonitor,
        gauges: DriftGauges,
        model: str,
        *,
        publish_every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.monitor = monitor
        self.gauges = gauges
        self.model = model
        self.publish_every_s = publish_every_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._published = -math.inf
        self._observed_at: float | None = None
        self._lock = threading.Lock()
        self._pending: threading.Timer | None = None
        self._retired = False

    def observe(self, event: ScoredRequest) -> None:
        # Shadow scoring repeats a request already counted; another model has another profile.
        if event.model != self.model or event.role == "shadow" or self._retired:
            return
        self.monitor.observe(event.frame, event.values)
        with self._lock:
            if self._retired:  # retired while this request was being observed
                return
            self._observed_at = self._wall_clock()
            wait = self._published + self.publish_every_s - self._clock()
            if wait <= 0:
                self._publish_locked()
            elif self._pending is None:
                self._pending = threading.Timer(wait, self._publish_pending)
                self._pending.daemon = True
                self._pending.start()

    def _publish_pending(self) -> None:
        with self._lock:
            self._pending = None
            if not self._retired:
                self._publish_locked()

    def retire(self) -> None:
        """Its model stopped serving: publish nothing more (a pending publish and a request
        still in flight included) and retire the model's gauge series."""
        with self._lock:
            self._retired = True
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None
            self.gauges.retire(self.model)

    def _publish_locked(self) -> None:
        self._published = self._clock()
        self.gauges.publish(self.monitor.snapshot(), self.model, self._observed_at)
