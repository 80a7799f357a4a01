"""The canary ramp: a new champion serves a growing share of the callers before it serves
alone, and is rolled back when its own traffic shows errors or drift.

With `serving.canary.enabled`, the champion refresh (reprokit.serving.reload) that finds a
new champion loads it fully, as without a canary, and then starts a ramp instead of
swapping: the canary answers the callers whose sticky bucket (reprokit.serving.ab's hash,
with the canary's own salt) is below the current step's share, the champion the others.
After `hold_s` seconds at a step, and at least `min_requests` canary requests in all, the
ramp moves to the next step; at the last one (1.0) the canary becomes the champion.

A ramp is rolled back, at any step before the last, when the canary's error rate (5xx and
504 answers of its role) exceeds `max_error_rate` over at least `min_requests` requests,
or (with `rollback_on_drift`) when a drift alarm of its own traffic is raised: the live
drift rule of the service's gauges (reprokit.monitoring.live), against the canary's own
training profile. The champion then answers everyone again and the canary's tag is never
adopted again by this worker; the rollback is also written to the registry, as tags on
the canary's model version (`ROLLED_BACK_TAG`, `REASON_TAG`), so the other workers and
replicas do not adopt it at their next refresh (and stop their own ramp of it), and a
person sees why on the version (MLflow UI or client).

Each worker decides on its own traffic: its ramp starts at its own refresh, its counts and
drift window are its own. The registry tag is what makes one worker's rollback everyone's.
The rollback also names the champion the worker went on serving (`KEPT_TAG`): a worker that
starts while the rolled-back version still holds `champion` serves that one, like its
siblings (reprokit.serving.store).

`judge` is the state machine, pure (the clock is an argument); `CanaryRamp` holds one
worker's ramp and counts, safe to call from requests and the watcher thread at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Final, Literal

from reprokit.config.models import CanaryConfig
from reprokit.core import names
from reprokit.logs import get_logger
from reprokit.serving.ab import caller_bucket
from reprokit.serving.store import RegistryVersion, registered_version, rollback_record

log = get_logger(__name__)

CANARY: Final = "canary"
ROLLED_BACK_TAG: Final = names.ROLLED_BACK_TAG
ROLLED_BACK: Final = names.ROLLED_BACK
REASON_TAG: Final = names.ROLLBACK_REASON_TAG
KEPT_TAG: Final = names.ROLLBACK_KEPT_TAG

Action = Literal["hold", "step", "promote", "rollback", "cancel"]
# Why a ramp was rolled back: the rollback counter's `reason` label.
Reason = Literal["error_rate", "drift", "registry"]
ROLLBACK_REASONS: Final[tuple[Reason, ...]] = ("error_rate", "drift", "registry")


@dataclass(frozen=True)
class Tally:
    """The canary's answered requests since its ramp began, and how many were errors."""

    requests: int = 0
    errors: int = 0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Ramp:
    """Where a canary is: its tag, its step (an index of `steps`) and when that began."""

    tag: str
    step: int
    since: float


@dataclass(frozen=True)
class Verdict:
    action: Action
    ramp: Ramp
    reason: Reason | None = None
    detail: str = ""


def share(config: CanaryConfig, ramp: Ramp) -> float:
    return config.steps[ramp.step]


def judge(
    config: CanaryConfig, ramp: Ramp, tally: Tally, alarms: Collection[str], now: float
) -> Verdict:
    """The ramp's next move. Rollback comes first: a step that is due never outruns an
    alarm raised in the same check."""
    if tally.requests >= config.min_requests and tally.error_rate > config.max_error_rate:
        detail = (
            f"error rate {tally.error_rate:.3f} > {config.max_error_rate} "
            f"({tally.errors} of {tally.requests} canary requests)"
        )
        return Verdict("rollback", ramp, "error_rate", detail)
    if config.rollback_on_drift and alarms:
        return Verdict("rollback", ramp, "drift", f"drift alarm on {', '.join(sorted(alarms))}")
    # No evidence, no step: a canary nobody was routed to holds its share.
    if now - ramp.since < config.hold_s or tally.requests < config.min_requests:
        return Verdict("hold", ramp)
    following = replace(ramp, step=ramp.step + 1, since=now)
    # The last step is 1.0 (CanaryConfig): reaching it is the promotion.
    return Verdict("promote" if following.step == len(config.steps) - 1 else "step", following)


_END_EVENTS: dict[str, str] = {
    "promote": "serving.canary_promoted",
    "rollback": "serving.canary_rolled_back",
    # A newer champion (or the old one again) came while it ramped: not a verdict on it.
    "cancel": "serving.canary_cancelled",
}


class CanaryRamp:
    """One worker's canary: which callers it serves, its counts, the tags it rejected."""

    def __init__(self, config: CanaryConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.rejected: set[str] = set()
        self._ramp: Ramp | None = None
        self._tally = Tally()
        self._lock = threading.Lock()

    @property
    def ramp(self) -> Ramp | None:
        return self._ramp

    @property
    def tag(self) -> str | None:
        ramp = self._ramp
        return None if ramp is None else ramp.tag

    @property
    def share(self) -> float:
        ramp = self._ramp
        return 0.0 if ramp is None else share(self.config, ramp)

    def refuse(self, tag: str, rolled_back: str) -> None:
        """Never adopt `tag`: the registry says a worker rolled it back (`rolled_back`, why).

        A warning only with a canary configured. Without one, a rolled-back champion is
        usually met by a worker that started on the champion the rollback kept, whose
        start-up warned already (`serving.champion_rolled_back`): debug, not a second one."""
        self.rejected.add(tag)
        emit = log.warning if self.config.enabled else log.debug
        emit("serving.canary_not_adopted", champion=tag, rolled_back=rolled_back)

    def begin(self, tag: str) -> None:
        with self._lock:
            self._ramp = Ramp(tag, 0, self.clock())
            self._tally = Tally()

    def routes(self, caller: str) -> bool:
        """Whether this caller's request goes to the canary (sticky: a step only adds
        callers)."""
        ramp = self._ramp
        if ramp is None:
            return False
        return caller_bucket(self.config.salt, caller) < share(self.config, ramp)

    def record(self, tag: str, *, error: bool) -> None:
        """Count one answer of canary `tag` (an error: a 5xx or a 504); an answer of an
        ended ramp's canary, in flight when it ended, counts for nothing."""
        with self._lock:
            if self._ramp is None or self._ramp.tag != tag:
                return
            tally = self._tally
            self._tally = Tally(tally.requests + 1, tally.errors + int(error))

    def tick(self, alarms: Collection[str]) -> Verdict | None:
        """Judge the ramp now; a step is taken here, an end is returned for the caller to
        carry out (`end`). None: no ramp."""
        with self._lock:
            ramp = self._ramp
            if ramp is None:
                return None
            verdict = judge(self.config, ramp, self._tally, alarms, self.clock())
            if verdict.action == "step":
                self._ramp = verdict.ramp
        if verdict.action == "step":
            log.info("serving.canary_stepped", canary=ramp.tag, share=self.share)
        return verdict

    def end(self, verdict: Verdict) -> Verdict:
        """Stop the ramp on a promote, rollback or cancel `verdict` (returned); a
        rolled-back tag is never begun again by this worker."""
        with self._lock:
            self._ramp = None
            tally, self._tally = self._tally, Tally()
        tag = verdict.ramp.tag
        if verdict.action == "rollback":
            self.rejected.add(tag)
        log_event = log.warning if verdict.action == "rollback" else log.info
        log_event(
            _END_EVENTS[verdict.action],
            canary=tag,
            reason=verdict.reason,
            detail=verdict.detail,
            requests=tally.requests,
            errors=tally.errors,
        )
        return verdict


# --- the registry: one worker's rollback seen by every worker ---------------------------------


def _version_of(tag: str) -> RegistryVersion | None:
    import bentoml

    return registered_version(dict(bentoml.models.get(tag).info.metadata))


def tag_rolled_back(found: RegistryVersion, detail: str, kept: str | None = None) -> None:
    """Mark `found` rolled back; `kept`: the champion's tag that went on serving instead."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=found.uri)
    client.set_model_version_tag(found.name, found.version, REASON_TAG, detail[:500])
    if kept is not None:
        client.set_model_version_tag(found.name, found.version, KEPT_TAG, kept)
    # Last: a reader that sees the mark sees the reason and the kept tag with it.
    client.set_model_version_tag(found.name, found.version, ROLLED_BACK_TAG, ROLLED_BACK)


def rollback_reason(found: RegistryVersion) -> str | None:
    """The reason recorded when a worker rolled this version back; None if none did."""
    record = rollback_record(found)
    return None if record is None else record.reason


def mark_rolled_back(tag: str, detail: str, kept: str | None = None) -> bool:
    """Tag the model version of `tag` as rolled back, with the reason and the champion
    `kept` serving; False (logged) when it has no registry version or the registry cannot
    be written (the rollback itself has happened either way)."""
    try:
        found = _version_of(tag)
        if found is None:
            return False
        tag_rolled_back(found, detail, kept)
    except Exception as error:  # a registry hiccup must not undo the rollback
        log.error("serving.canary_rollback_not_recorded", canary=tag, error=str(error)[:500])
        return False
    return True


def rolled_back_in_registry(tag: str) -> str | None:
    """The reason recorded when some worker rolled `tag` back; None if none did (or the
    registry cannot say: the worker's own counts still guard its ramp)."""
    try:
        found = _version_of(tag)
        return None if found is None else rollback_reason(found)
    except Exception as error:
        log.info("serving.canary_registry_unreadable", canary=tag, error=str(error)[:200])
        return None
