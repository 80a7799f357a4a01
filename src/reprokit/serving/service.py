"""The BentoML service: `bentoml serve` from the project root (see bentofile.yaml).

`POST /predict` takes `{"records": [{...}, ...]}`, or the same rows as columns
(`{"columns": {"field": [...], ...}}`), or `{"entities": [{"<id>": ...}]}`, whose records
the online feature store holds (reprokit.serving.entities), and answers with one
prediction per record (class probabilities and label for classifiers, a value for
regression), the model that made them (tag, version, fingerprint, run, role) and which
input was used. Requests are validated with
the training schema minus the target; a violation is a 422 naming field, rule and rows.
A body BentoML cannot parse (malformed JSON, no `records` list) is BentoML's 400, whose
`detail` names the field. `/livez`, `/readyz`, `/metrics` are BentoML's; `/metrics` also
carries reprokit's metrics (reprokit.serving.metrics). `GET /docs.json` is reprokit's
OpenAPI document, typed from the champion's request schema (reprokit.serving.openapi).
Past `REPROKIT_REQUEST_TIMEOUT_S` the answer is a 504 and the scoring work stops at its
next step (reprokit.serving.deadline).

A/B and batching come from params.yaml's `serving` section (reprokit.serving.config);
the champion answers, unless `serving.challenger` routes the caller to the challenger
(`split`) or has the challenger score the request in the background (`shadow`), or a new
champion found by the refresh is ramping in as a canary for the caller's share
(`serving.canary`, reprokit.serving.canary). The
model that answered is in the body, the `x-reprokit-model-*` headers, the access log and
the metrics' `model`/`role` labels.

Its settings are `reprokit.serving.config.ServingSettings` (the `REPROKIT_*` environment),
read when the server starts. Among them: `REPROKIT_MODEL_TAG`, the BentoML model to serve
[this project's packaged model of its dataset: the only one, else the one whose MLflow
registry version is `champion`; several and no champion is an error naming them
(reprokit.serving.store)]; `REPROKIT_MAX_RECORDS`, records per request (more is a 422);
`REPROKIT_PREDICT_THREADS`, threads per predict call [1]: requests already run concurrently,
so more threads per call mostly oversubscribe the CPU.

A bad setting (exit status 2, every bad variable named), an unknown model tag or a
challenger that cannot be found stops `bentoml serve` at start-up (a deployment hook
checks them before any worker starts).

Workers: `REPROKIT_WORKERS` processes [auto: one per usable CPU], each a full copy of the
service (models, drift windows, shadow scheduler, champion watcher and canary ramp). What
they share: the rate limit's and the failed-auth throttle's buckets (reprokit.serving.buckets,
so a key's limit holds for the server) and the metrics (reprokit.serving.metrics). What each
keeps for itself, over the requests it answers: the drift windows (`DriftWatch`), the shadow
scheduler's cap (8 shadow scorings at a time per worker) and the canary ramp's judgement.
Answers do not depend on the worker: the same request gets the same bytes from each.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import bentoml
import numpy as np
import pandas as pd

from reprokit._compat.bentoml import configured_workers, fix_json_media_type, wrap_request_metrics
from reprokit.config.models import ServingConfig
from reprokit.errors import DataError
from reprokit.logs import configure_app_logging, get_logger
from reprokit.serving.ab import (
    CHALLENGER,
    CHAMPION,
    SHADOW,
    ShadowScheduler,
    caller_key,
    selected,
)
from reprokit.serving.batching import PredictBatcher
from reprokit.serving.bento_model import declared_model
from reprokit.serving.buckets import STATE_DIR_VARIABLE, server_state_directory
from reprokit.serving.bundle import (
    Bundle,
    feature_matrix,
    format_predictions,
    predict_matrix,
    prediction_values,
)
from reprokit.serving.canary import (
    CANARY,
    ROLLBACK_REASONS,
    CanaryRamp,
    Verdict,
    mark_rolled_back,
    rolled_back_in_registry,
)
from reprokit.serving.config import (
    ServingSettings,
    SettingsError,
    checked_settings,
    load_monitoring_config,
    load_project_identity,
    load_serving_config,
    params_path,
    serving_settings,
    worker_count,
)
from reprokit.serving.deadline import (
    NO_DEADLINE,
    Deadline,
    DeadlineExceededError,
    deadline_in,
    predict_in_chunks,
)
from reprokit.serving.entities import (
    INPUT_COLUMNS,
    INPUT_ENTITIES,
    INPUT_RECORDS,
    entity_lookup,
    entity_records,
)
from reprokit.serving.http_limits import HeadLimits
from reprokit.serving.http_limits import install as install_head_limits
from reprokit.serving.metrics import PredictionEvent, ServingMetrics, serving_metrics
from reprokit.serving.middleware import (
    KEY_ID_SCOPE,
    MIDDLEWARE_ORDER,
    MODEL_FINGERPRINT_HEADER,
    MODEL_ROLE_HEADER,
    MODEL_RUN_HEADER,
    MODEL_TAG_HEADER,
    MODEL_VERSION_HEADER,
    REQUEST_ID_SCOPE,
    AccessLog,
    BoundedPathLabels,
    keep_payloads_out_of_bentoml_logs,
)
from reprokit.serving.openapi import OpenApiMiddleware, openapi_document
from reprokit.serving.reload import CANARY_STARTED, SWITCHED, ChampionWatcher, Outcome, Reload
from reprokit.serving.request import (
    Columns,
    RequestValidationError,
    Rows,
    Violation,
    request_rows,
    request_schema,
    row_count,
    validate_records,
)
from reprokit.serving.store import load_packaged, resolve_challenger_tag, resolve_model_tag

_Result = TypeVar("_Result")
UNPROCESSABLE = 422
GATEWAY_TIMEOUT = 504

log = get_logger(__name__)


@dataclass(frozen=True)
class ServedModel:
    """A loaded model, the role it plays, and its batcher when batching is on."""

    role: str
    bundle: Bundle
    batcher: PredictBatcher | None = None

    @property
    def tag(self) -> str:
        return self.bundle.info.tag


@dataclass(frozen=True)
class Tags:
    champion: str
    challenger: str | None


def resolve_tags(config: ServingConfig, settings: ServingSettings) -> Tags:
    """The champion's and (when A/B is on) the challenger's BentoML tags, among the packaged
    models of this project (params.yaml in the working directory) and its dataset."""
    project = load_project_identity(settings)
    champion = resolve_model_tag(settings.model_tag, project, settings.registry)
    challenger = None
    if config.challenger.mode != "none":
        ab = config.challenger
        challenger = resolve_challenger_tag(ab.tag, ab.alias, project, settings.registry)
    return Tags(champion=champion, challenger=challenger)


def _served(
    config: ServingConfig, tag: str, role: str, threads: int, metrics: ServingMetrics
) -> ServedModel:
    """The packaged model `tag`, loaded with its request schema built (now rather than in
    the first request), and its batcher when batching is on."""
    batching = config.batching
    bundle = load_packaged(tag, num_threads=threads)
    request_schema(bundle.request_spec)
    batcher = (
        PredictBatcher(
            bundle,
            batching.max_batch_size,
            batching.max_latency_ms,
            on_batch=metrics.batch_requests.labels(model=tag).observe,
            on_shed=metrics.batch_shed.labels(model=tag).inc,
        )
        if batching.enabled
        else None
    )
    return ServedModel(role=role, bundle=bundle, batcher=batcher)


def _load(
    config: ServingConfig, tags: Tags, threads: int, metrics: ServingMetrics
) -> tuple[ServedModel, ServedModel | None]:
    champion = _served(config, tags.champion, CHAMPION, threads, metrics)
    if tags.challenger is None:
        return champion, None
    role = CHALLENGER if config.challenger.mode == "split" else SHADOW
    return champion, _served(config, tags.challenger, role, threads, metrics)


class DriftWatch:
    """The live drift gauges of whichever model is champion: the gauges exist once per
    process (a Prometheus registry takes each name once), each champion gets its own
    monitor (its own training profile). With several workers each watches the requests it
    answers (its share of the traffic; /metrics shows the worst window, see
    reprokit.serving.metrics)."""

    def __init__(self, metrics: ServingMetrics, settings: ServingSettings) -> None:
        self.metrics = metrics
        self.settings = settings
        self.gauges: Any = None
        self.observer: Any = None
        self.canary: Any = None

    def observer_for(self, champion: ServedModel) -> Any:
        """A drift observer of `champion`'s requests, against its packaged training profile
        (`reprokit_drift_*` on /metrics); None for a model packaged without a profile."""
        profile = champion.bundle.profile
        if profile is None:
            log.warning("serving.no_reference_profile", tag=champion.tag)
            return None
        from reprokit.monitoring.live import (
            DriftGauges,
            DriftObserver,
            LiveDriftMonitor,
            prometheus_gauge_factory,
        )

        monitoring = load_monitoring_config(self.settings)
        monitor = LiveDriftMonitor(profile, monitoring.live, monitoring.psi_threshold, champion.tag)
        if self.gauges is None:
            self.gauges = DriftGauges(prometheus_gauge_factory(self.metrics.prometheus))
        return DriftObserver(monitor, self.gauges, champion.tag)

    def _retire(self, observer: Any) -> None:
        """`observer`'s model stopped serving: no more requests to it, and its gauge series
        retired (a rolled-back canary's drift alarm must not keep firing)."""
        if observer is not None:
            self.metrics.remove_observer(observer)
            observer.retire()

    def watch(self, observer: Any) -> bool:
        """Feed the champion's requests to `observer` from now on, instead of the last one."""
        self._retire(self.observer)
        self.observer = observer
        if observer is not None:
            self.metrics.add_observer(observer)
        return observer is not None

    def watch_canary(self, observer: Any) -> None:
        """Feed a ramping canary's requests to `observer` (its own window and profile), next
        to the champion's; None ends the last canary's."""
        self._retire(self.canary)
        self.canary = observer
        if observer is not None:
            self.metrics.add_observer(observer)

    def promote_canary(self) -> bool:
        """The canary's observer, window included, becomes the champion's."""
        self._retire(self.observer)
        self.observer, self.canary = self.canary, None
        return self.observer is not None

    def canary_alarms(self) -> tuple[str, ...]:
        """The columns whose drift alarm the canary's traffic raised (the gauges' rule)."""
        return () if self.canary is None else tuple(self.canary.monitor.snapshot().alarms)


@dataclass(frozen=True)
class Champion:
    """A new champion, ready to serve: everything a switch needs is built before it."""

    model: ServedModel
    openapi: dict[str, Any]
    drift: Any


def _task_of(tag: str) -> str:
    """The packaged model's task (its metadata), before loading it: it picks the prediction
    histogram's buckets, which exist before any model is loaded."""
    try:
        return str(bentoml.models.get(tag).info.metadata.get("task", "binary"))
    except Exception:  # load_packaged reports a missing tag clearly, just after
        return "binary"


def _prepare(
    model: ServedModel,
    records: Rows,
    max_records: int,
    deadline: Deadline = NO_DEADLINE,
) -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    """Validate and compute features for one request (its own 422 on failure); stops at
    the first step past `deadline` (DeadlineExceededError)."""
    deadline.check("validation")  # waited for a thread past its deadline: never starts
    frame = validate_records(records, model.bundle.request_spec, max_records, deadline.check)
    deadline.check("features")
    try:
        return frame, feature_matrix(model.bundle, frame)
    except DataError as error:  # the feature code refused a value the schema allows
        raise RequestValidationError([Violation(None, "features", str(error))]) from None


def _prepare_and_predict(
    model: ServedModel,
    records: Rows,
    max_records: int,
    deadline: Deadline = NO_DEADLINE,
) -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    frame, matrix = _prepare(model, records, max_records, deadline)
    bundle = model.bundle
    return frame, predict_in_chunks(
        functools.partial(predict_matrix, bundle), matrix, deadline.check
    )


def _stops_logged(work: Callable[..., _Result], *args: Any) -> _Result:
    """`work(*args)`, logging where it stopped at its deadline: in the thread, since the
    awaiting task, once cancelled by the 504, never sees the exception."""
    try:
        return work(*args)
    except DeadlineExceededError as error:
        if not error.before_start:  # else the timeout middleware has logged it
            log.info("serving.work_stopped", stage=error.stage, timeout_s=error.seconds)
        raise


async def score(
    model: ServedModel,
    records: Rows,
    max_records: int,
    deadline: Deadline = NO_DEADLINE,
) -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    """The validated frame and LightGBM's raw output; CPU work runs in a worker thread,
    which stops at its next step once `deadline` passes (DeadlineExceededError)."""
    import anyio.to_thread

    if model.batcher is None:
        return await anyio.to_thread.run_sync(
            _stops_logged, _prepare_and_predict, model, records, max_records, deadline
        )
    frame, matrix = await anyio.to_thread.run_sync(
        _stops_logged, _prepare, model, records, max_records, deadline
    )
    # A matrix handed to the batcher is scored with its batch (at most max_batch_size
    # requests within max_latency_ms): the last point where the work can stop.
    deadline.check("predict")
    return frame, await model.batcher.predict(matrix)


SERVICE_NAME = "reprokit"


def service_workers() -> int:
    """The worker processes `bentoml serve` starts: `REPROKIT_WORKERS` [auto: one per usable
    CPU]. Read on import, like `packed_model` below: BentoML takes the count from the
    decorator's arguments, before any hook runs. A bad value counts as 1 here; the
    deployment hook then stops start-up naming it."""
    try:
        return worker_count(serving_settings().workers)
    except SettingsError:
        return 1


def _shares_state(workers: int) -> bool:
    """Whether the workers must share the limits' buckets: more than one of them, by
    reprokit's setting or by BentoML's own config (`BENTOML_CONFIG_OPTIONS` can override the
    decorator's count; `cpu_count` is never assumed to be 1)."""
    effective = configured_workers(SERVICE_NAME)
    return workers > 1 or effective == "cpu_count" or (isinstance(effective, int) and effective > 1)


def share_limits_between_workers(workers: int) -> Path | None:
    """Before the workers start (they inherit this environment): with several, a state
    directory of this server for the buckets they share (reprokit.serving.buckets), removed
    when the server's parent process exits; with one, none (in-process buckets)."""
    os.environ.pop(STATE_DIR_VARIABLE, None)  # never another server's
    if not _shares_state(workers):
        return None
    directory = server_state_directory()
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    os.environ[STATE_DIR_VARIABLE] = str(directory)
    return directory


@bentoml.service(name=SERVICE_NAME, workers=service_workers(), traffic={"timeout": 60})
class ReprokitService:
    """Scores records with the packaged pipeline (schema, features, LightGBM model)."""

    # What `bentoml build` packs: the champion (src/reprokit/serving/bento_model.py). Resolved
    # on import, the one exception to "nothing happens on import": BentoML's build reads the
    # service's models from its class attributes, and bentofile.yaml cannot name a champion.
    packed_model = declared_model()

    def __init__(self) -> None:
        keep_payloads_out_of_bentoml_logs()  # in each worker, where BentoML logs requests
        settings = serving_settings()
        configure_app_logging(settings.log_format)
        self.config, source = load_serving_config(settings)
        tags = resolve_tags(self.config, settings)
        self.metrics: ServingMetrics = serving_metrics(_task_of(tags.champion))
        self.champion, self.challenger = _load(
            self.config, tags, settings.predict_threads, self.metrics
        )
        self.max_records = settings.max_records
        # `{"entities": [...]}` requests, when the project's online store is filled.
        self.entities = entity_lookup(params_path(settings).parent)
        self.access_log = AccessLog(settings.access_log)
        self.shadow = ShadowScheduler()
        for model in (self.champion, self.challenger):
            if model is not None:
                self.metrics.record_model(model.bundle.info, model.role)
        self.drift_watch = DriftWatch(self.metrics, settings)
        self.drift = self.drift_watch.watch(self.drift_watch.observer_for(self.champion))
        # GET /docs.json (OpenApiMiddleware): typed from the champion's request schema.
        self.openapi = openapi_document(self.champion.bundle, self.max_records, self._entity_key)
        # A new champion found by the refresh ramps in first (serving.canary.enabled).
        self.canary: Champion | None = None
        self.ramp = CanaryRamp(self.config.canary, time.monotonic)
        self.refresh_s = settings.model_refresh_s
        self._registry_read = time.monotonic()
        self.watcher = self._watch_champion(settings)
        log.info(
            "serving.started",
            champion=self.champion.tag,
            challenger=None if self.challenger is None else self.challenger.tag,
            mode=self.config.challenger.mode,
            fraction=self.config.challenger.fraction,
            batching=self.config.batching.enabled,
            canary=self.config.canary.enabled and self.watcher is not None,
            drift_gauges=self.drift,
            entities=self.entities is not None,
            model_refresh_s=settings.model_refresh_s if self.watcher is not None else 0,
            settings=source,
        )

    def _watch_champion(self, settings: ServingSettings) -> ChampionWatcher[Champion] | None:
        """Re-resolve the champion every `REPROKIT_MODEL_REFRESH_S` (off at 0, and for a
        pinned `REPROKIT_MODEL_TAG`, which names one model for good)."""
        if settings.model_refresh_s == 0 or settings.model_tag:
            return None

        def resolve() -> str:
            project = load_project_identity(settings)
            tag = resolve_model_tag(None, project, settings.registry, skip_rolled_back=False)
            return tag if self._adoptable(tag) else self._current_tag()

        def load(tag: str) -> Champion:
            model = _served(self.config, tag, CHAMPION, settings.predict_threads, self.metrics)
            openapi = openapi_document(model.bundle, self.max_records, self._entity_key)
            return Champion(model, openapi, self.drift_watch.observer_for(model))

        def record(outcome: str) -> None:
            self.metrics.reloads.labels(outcome=outcome).inc()

        reload = Reload(
            current=self._current_tag,
            resolve=resolve,
            load=load,
            switch=self._adopt,
            record=record,
        )
        canary = self.config.canary.enabled
        watcher = ChampionWatcher(
            reload, settings.model_refresh_s, tick=self._tick_canary if canary else None
        )
        watcher.start()
        return watcher

    def _current_tag(self) -> str:
        """The newest model this worker adopted: a ramping canary, else the champion."""
        canary = self.canary
        return self.champion.tag if canary is None else canary.model.tag

    def _adoptable(self, tag: str) -> bool:
        """False for a canary rolled back here or, per the registry, by another worker."""
        if tag in self.ramp.rejected:
            return False
        # Asked with the canary off too: a worker that started on the champion a rollback
        # kept (reprokit.serving.store) must not switch to the version it replaced.
        if tag == self._current_tag():
            return True
        reason = rolled_back_in_registry(tag)
        if reason is None:
            return True
        self.ramp.refuse(tag, reason)
        return False

    def _adopt(self, new: Champion) -> Outcome:
        """A new champion, loaded: served at once, or ramped in as a canary."""
        if not self.config.canary.enabled:
            self._switch_champion(new)
            return SWITCHED
        ramp = self.ramp.ramp
        if ramp is not None:  # superseded (or the alias went back to the champion)
            self._end_canary(self.ramp.end(Verdict("cancel", ramp)))
        if new.model.tag == self.champion.tag:
            return SWITCHED  # back to the champion alone: the canary's callers switched
        canary = Champion(dataclasses.replace(new.model, role=CANARY), new.openapi, new.drift)
        self.drift_watch.watch_canary(canary.drift)
        self.ramp.begin(canary.model.tag)
        self.canary = canary
        self.metrics.record_model(canary.model.bundle.info, CANARY)
        self.metrics.canary_share.labels(model=canary.model.tag).set(self.ramp.share)
        for reason in ROLLBACK_REASONS:  # at 0 from now: an alert sees the first rollback
            self.metrics.canary_rollbacks.labels(model=canary.model.tag, reason=reason)
        log.info(
            "serving.canary_started",
            champion=self.champion.tag,
            canary=canary.model.tag,
            version=canary.model.bundle.info.model_version,
            share=self.ramp.share,
            drift_rollback=canary.drift is not None and self.config.canary.rollback_on_drift,
        )
        return CANARY_STARTED

    def _tick_canary(self) -> None:
        """The ramp's check (the watcher's thread, every few hundred ms): step, promote or
        roll back. The registry is read once per refresh interval at most."""
        canary = self.canary
        if canary is None:
            return
        verdict = self.ramp.tick(self.drift_watch.canary_alarms())
        if verdict is None:
            return
        tag = canary.model.tag
        if verdict.action == "hold" and self._registry_due():
            reason = rolled_back_in_registry(tag)
            if reason is not None:
                detail = f"rolled back by another worker: {reason}"
                verdict = Verdict("rollback", verdict.ramp, "registry", detail)
        self.metrics.canary_share.labels(model=tag).set(self.ramp.share)
        if verdict.action == "promote":
            self._promote_canary(canary, verdict)
        elif verdict.action == "rollback":
            self._end_canary(self.ramp.end(verdict))
            if verdict.reason != "registry":
                mark_rolled_back(tag, verdict.detail, kept=self.champion.tag)

    def _registry_due(self) -> bool:
        now = time.monotonic()
        if now - self._registry_read < self.refresh_s:
            return False
        self._registry_read = now
        return True

    def _end_canary(self, ended: Verdict) -> None:
        """Stop serving the canary: the champion answers everyone again."""
        canary, tag = self.canary, ended.ramp.tag
        self.canary = None
        self.drift_watch.watch_canary(None)
        self.metrics.canary_share.labels(model=tag).set(0)
        if canary is not None:
            self.metrics.record_model(canary.model.bundle.info, CANARY, serving=False)
        if ended.reason is not None:
            self.metrics.canary_rollbacks.labels(model=tag, reason=ended.reason).inc()

    def _promote_canary(self, canary: Champion, verdict: Verdict) -> None:
        """The canary reached the last step: it is the champion, for every caller. The
        champion is swapped before the ramp ends, so its callers never go back to the old."""
        promoted = Champion(
            dataclasses.replace(canary.model, role=CHAMPION), canary.openapi, canary.drift
        )
        self._switch_champion(promoted, drift=self.drift_watch.promote_canary)
        self.ramp.end(verdict)
        self.canary = None
        self.metrics.canary_share.labels(model=verdict.ramp.tag).set(0)
        self.metrics.record_model(canary.model.bundle.info, CANARY, serving=False)

    def _switch_champion(self, new: Champion, drift: Callable[[], bool] | None = None) -> None:
        """Serve `new` from the next request on. `predict` reads `self.champion` once when
        a request starts, so one attribute store switches atomically: requests in flight
        finish on the old model. `drift`: how its drift observer takes over (default: a new
        one watches from now on)."""
        old = self.champion
        self.champion = new.model
        self.openapi = new.openapi
        self.drift = drift() if drift is not None else self.drift_watch.watch(new.drift)
        self.metrics.record_model(old.bundle.info, CHAMPION, serving=False)
        self.metrics.record_model(new.model.bundle.info, CHAMPION)
        log.info(
            "serving.champion_reloaded",
            previous=old.tag,
            previous_version=old.bundle.info.model_version,
            champion=new.model.tag,
            version=new.model.bundle.info.model_version,
            fingerprint=new.model.bundle.info.fingerprint,
        )

    @bentoml.on_deployment  # type: ignore[untyped-decorator]  # called bare
    def check_start_up() -> None:
        """Before any worker starts: settings valid, every model tag in the store.

        A bad setting raised later, when a worker builds its middleware, would leave the
        server up and answering 500 on every path (health included)."""
        settings, config = checked_settings()
        configure_app_logging(settings.log_format)
        workers = worker_count(settings.workers)
        state = share_limits_between_workers(workers)
        log.info(
            "serving.workers", workers=workers, shared_state=None if state is None else str(state)
        )
        tags = resolve_tags(config, settings)
        for role, tag in ((CHAMPION, tags.champion), (CHALLENGER, tags.challenger)):
            if tag is not None:
                check_in_store(role, tag)
        if tags.challenger is not None and tags.challenger == tags.champion:
            log.warning("serving.challenger_is_champion", tag=tags.champion)

    @bentoml.api(route="/predict")  # type: ignore[untyped-decorator]
    async def predict(
        self,
        ctx: bentoml.Context,
        records: list[dict[str, Any]] | None = None,
        columns: dict[str, list[Any]] | None = None,
        entities: list[Any] | None = None,
    ) -> dict[str, Any]:
        """Predict for a batch of records (the training columns, without the target), the
        same rows as columns, or entities (`{"<id column>": ...}`) whose records the online
        feature store holds."""
        scope = ctx.request.scope
        settings = self.config.challenger
        caller = caller_key(scope, KEY_ID_SCOPE)
        picked = self.challenger is not None and selected(settings, caller)
        model = self._answering(caller, split=picked and settings.mode == "split")
        info = model.bundle.info
        ctx.response.headers[MODEL_TAG_HEADER] = info.tag
        ctx.response.headers[MODEL_ROLE_HEADER] = model.role
        for header, value in (
            (MODEL_VERSION_HEADER, info.model_version),
            (MODEL_FINGERPRINT_HEADER, info.fingerprint),
            (MODEL_RUN_HEADER, info.mlflow_run_id),
        ):
            if value is not None:
                ctx.response.headers[header] = value
        try:
            rows, used = await self._rows(records, columns, entities)
            frame, raw = await score(model, rows, self.max_records, deadline_in(scope))
            values = prediction_values(model.bundle, raw)
            predictions = format_predictions(model.bundle, raw)
        except RequestValidationError as error:
            ctx.response.status_code = UNPROCESSABLE
            return error.as_dict()
        except DeadlineExceededError as error:
            self._count_canary(model, error=True)
            # The timeout middleware answers 504 too; whichever comes first goes out.
            ctx.response.status_code = GATEWAY_TIMEOUT
            return {"error": str(error)}
        except Exception:  # BentoML answers 500: a failure of the canary counts against it
            self._count_canary(model, error=True)
            raise
        self._count_canary(model, error=False)
        self.metrics.record_predictions(PredictionEvent(info.tag, model.role, frame, values))
        if picked and settings.mode == "shadow" and self.challenger is not None:
            self._shadow(rows, str(scope.get(REQUEST_ID_SCOPE, "")), values)
        return {
            "model": {**info.as_dict(), "role": model.role},
            "input": used,
            "predictions": predictions,
        }

    @property
    def _entity_key(self) -> str | None:
        return None if self.entities is None else str(self.entities.id_column)

    async def _rows(
        self,
        records: list[dict[str, Any]] | None,
        columns: dict[str, list[Any]] | None,
        entities: list[Any] | None,
    ) -> tuple[Rows, str]:
        """The request's rows and which input it used (exactly one of the three)."""
        import anyio.to_thread

        if entities is None:
            rows = request_rows(records, columns)
            return rows, INPUT_COLUMNS if isinstance(rows, Columns) else INPUT_RECORDS
        if records is not None or columns is not None:
            raise RequestValidationError(
                [
                    Violation(
                        None,
                        "body",
                        "send `records`, `columns` or `entities`, exactly one; got more",
                    )
                ]
            )
        if self.entities is None:
            raise RequestValidationError(
                [
                    Violation(
                        INPUT_ENTITIES,
                        "no_feature_store",
                        "this service has no online feature store (feature_store in params.yaml,"
                        " filled by `dvc repro`'s materialize stage): send `records`",
                    )
                ]
            )
        found = await anyio.to_thread.run_sync(
            entity_records, self.entities, entities, self.max_records
        )
        return found, INPUT_ENTITIES

    def _answering(self, caller: str, *, split: bool) -> ServedModel:
        """The challenger for its A/B callers, else a ramping canary for its share, else
        the champion. Each attribute is read once: a switch lands between requests."""
        if split and self.challenger is not None:
            return self.challenger
        canary = self.canary
        if canary is not None and self.ramp.routes(caller):
            return canary.model
        return self.champion

    def _count_canary(self, model: ServedModel, *, error: bool) -> None:
        if model.role == CANARY:
            self.ramp.record(model.tag, error=error)

    def _shadow(self, records: Rows, request_id: str, answered: np.ndarray[Any, Any]) -> None:
        challenger = self.challenger
        assert challenger is not None

        async def work() -> None:
            await shadow_score(
                challenger=challenger,
                records=records,
                max_records=self.max_records,
                request_id=request_id,
                answered=answered,
                metrics=self.metrics,
                access_log=self.access_log,
            )

        if not self.shadow.submit(work):
            self.metrics.shadow_skipped.labels(model=challenger.tag).inc()


def check_in_store(role: str, tag: str) -> None:
    """The tag names a model in the store (without loading it); else a clear error."""
    from bentoml.exceptions import NotFound

    from reprokit.serving.store import ModelNotFoundError

    try:
        bentoml.models.get(tag)
    except NotFound:
        raise ModelNotFoundError(
            f"the {role} model {tag!r} is not in the BentoML store: check "
            + (
                "REPROKIT_MODEL_TAG"
                if role == CHAMPION
                else "serving.challenger.tag in params.yaml (or REPROKIT_CHALLENGER_TAG)"
            )
            + "; `bentoml models list` shows what is packaged"
        ) from None


async def shadow_score(
    *,
    challenger: ServedModel,
    records: Rows,
    max_records: int,
    request_id: str,
    answered: np.ndarray[Any, Any],
    metrics: ServingMetrics,
    access_log: AccessLog,
) -> None:
    """Score a request with the challenger after the champion answered: metrics and one
    log line (outcome, latency, mean absolute difference to the champion's predictions)."""
    started = time.perf_counter()
    result = "ok"
    difference: float | None = None
    try:
        frame, raw = await score(challenger, records, max_records)
    except RequestValidationError:
        result = "invalid_request"
    except Exception:
        result = "server_error"
        log.exception("serving.shadow_failed", tag=challenger.tag)
    else:
        values = prediction_values(challenger.bundle, raw)
        metrics.record_predictions(PredictionEvent(challenger.tag, SHADOW, frame, values))
        if values.shape == answered.shape:
            difference = float(np.mean(np.abs(values - answered)))
    seconds = time.perf_counter() - started
    metrics.record_request(challenger.tag, SHADOW, result, seconds)
    info = challenger.bundle.info
    access_log.event(
        "shadow",
        request_id=request_id,
        model_tag=info.tag,
        model_version=info.model_version,
        model_role=SHADOW,
        outcome=result,
        latency_ms=round(seconds * 1000, 3),
        rows=row_count(records),
        mean_abs_diff=difference,
    )


def bound_bentoml_metric_labels() -> None:
    """BentoML's request metrics see every unmatched path as one (`BoundedPathLabels`).

    BentoML puts its metrics middleware outside every middleware a service adds, so ours
    cannot reach its labels; it takes the class from this module attribute when a worker
    builds the app, just after importing this module, which is why this runs on import.
    """
    wrap_request_metrics(BoundedPathLabels)


def served_openapi() -> dict[str, Any] | None:
    """This worker's OpenAPI document, once its service instance exists."""
    from bentoml.exceptions import BentoMLException

    try:
        instance = bentoml.get_current_service()
    except BentoMLException:  # not instantiated yet
        return None
    document = getattr(instance, "openapi", None)
    return document if isinstance(document, dict) else None


def head_limits() -> HeadLimits:
    """The head limits of this worker's settings; defaults if they are bad, since the
    deployment hook has already stopped start-up with a clear message in that case."""
    try:
        return serving_settings().head_limits
    except SettingsError:
        return HeadLimits()


_service: Any = ReprokitService  # a bentoml Service object, typed as the class by the decorator
for _middleware in MIDDLEWARE_ORDER:
    _service.add_asgi_middleware(_middleware)
# Innermost: behind auth, as BentoML's own /docs.json was.
_service.add_asgi_middleware(OpenApiMiddleware, document=served_openapi)
bound_bentoml_metric_labels()
fix_json_media_type(_service, "predict")
# Before the worker's uvicorn server loads its protocol class (it does so after this import).
install_head_limits(functools.cache(head_limits))
