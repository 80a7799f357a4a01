"""The champion, re-resolved while the service runs: a promotion reaches a running server
without a restart.

Every `REPROKIT_MODEL_REFRESH_S` seconds a daemon thread of each worker resolves the
champion again (the registry's `champion` alias among this project's packaged models,
reprokit.serving.store), and when it names another model, loads it fully (model, feature
state, request schema, drift profile) before the service switches to it. The switch is one
attribute store: a request reads the served model once, when it starts, so requests in
flight finish on the old model and the next ones score with the new one. A failure to
resolve or load keeps the old model serving and is logged; the next interval tries again.
Nothing here runs per request: the hot path never calls the registry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, Literal, TypeVar

from reprokit.logs import get_logger

log = get_logger(__name__)

# `canary_started`: the new champion ramps in as a canary (reprokit.serving.canary) rather
# than serving everyone: a switch that may still be rolled back, counted apart.
Outcome = Literal["unchanged", "switched", "canary_started", "failed"]
UNCHANGED: Final = "unchanged"
SWITCHED: Final = "switched"
CANARY_STARTED: Final = "canary_started"
FAILED: Final = "failed"
TICK_S: Final = 0.25

Model = TypeVar("Model")


@dataclass(frozen=True)
class Reload(Generic[Model]):
    """How the watcher reaches the service: what serves now, how to find, load and switch."""

    current: Callable[[], str]  # the tag serving now
    resolve: Callable[[], str]  # the tag that should serve (the registry's champion)
    load: Callable[[str], Model]  # the model, fully loaded and checked
    switch: Callable[[Model], Outcome]  # start serving it (one atomic store), or ramp it in
    record: Callable[[Outcome], None]  # count the attempt (metrics)


def check_once(reload: Reload[Model]) -> Outcome:
    """Resolve the champion once; load and switch when it changed. Never raises: a
    failure keeps the old model (and is logged with the error)."""
    current = reload.current()
    try:
        wanted = reload.resolve()
        if wanted == current:
            return UNCHANGED
        model = reload.load(wanted)
    except Exception as error:  # a running service must not die of a registry hiccup
        log.error("serving.champion_reload_failed", serving=current, error=str(error)[:500])
        reload.record(FAILED)
        return FAILED
    switched = reload.switch(model)
    reload.record(switched)
    log.info("serving.champion_switched", previous=current, champion=wanted, outcome=switched)
    return switched


class ChampionWatcher(Generic[Model]):
    """`check_once` every `interval_s` seconds on a daemon thread, until `stop()`; and, when
    given, `tick()` every `tick_s` seconds in between (a canary ramp's steps and rollbacks
    cannot wait for the next refresh)."""

    def __init__(
        self,
        reload: Reload[Model],
        interval_s: float,
        tick: Callable[[], None] | None = None,
        tick_s: float = TICK_S,
    ) -> None:
        self.reload = reload
        self.interval_s = interval_s
        self.tick = tick
        self.tick_s = tick_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reprokit-champion", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _wait_s(self, due: float) -> float:
        left = max(0.0, due - time.monotonic())
        return left if self.tick is None else min(left, self.tick_s)

    def _run(self) -> None:
        due = time.monotonic() + self.interval_s
        while not self._stopped.wait(self._wait_s(due)):
            if self.tick is not None:
                _guarded(self.tick)
            if time.monotonic() >= due:
                check_once(self.reload)
                due = time.monotonic() + self.interval_s


def _guarded(tick: Callable[[], None]) -> None:
    try:
        tick()
    except Exception as error:  # the watcher thread must outlive a failed tick
        log.error("serving.watcher_tick_failed", error=str(error)[:500])
