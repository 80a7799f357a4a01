"""BentoML's private APIs (bentoml 1.4): its batching dispatcher and its metrics middleware.

- `CorkDispatcher` is the dispatcher behind `@bentoml.api(batchable=True)`; reprokit uses it
  directly to batch validated feature matrices inside the worker (see
  `reprokit.serving.batching` for why not `batchable=True`). It learns the cost of a call
  and waits at most `max_latency_ms`; a request it expects to miss that budget gets
  `fallback()` (its exception, if it raises) instead of a result.
- `instruments.RunnerTrafficMetricsMiddleware` is the class BentoML's service app imports
  when a worker builds the app, outside every middleware a service adds; replacing the
  module attribute is the only way to change the labels of its request metrics.
- An API's `output_spec` (the IODescriptor BentoML derives from its return annotation)
  works out its response's media type from its JSON schema on every response, unless its
  `media_type` class variable is set.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

BatchCall = Callable[[Sequence[Any]], Coroutine[None, None, Sequence[Any]]]
SingleCall = Callable[[Any], Coroutine[None, None, Any]]


def cork_dispatcher(
    *,
    max_latency_ms: int,
    max_batch_size: int,
    fallback: Callable[[], Any],
    get_batch_size: Callable[[Any], int],
) -> Callable[[BatchCall], SingleCall]:
    """A decorator turning an async function of a batch (a sequence of inputs, one output
    per input in order) into an async function of one input, batched with concurrent
    calls; inputs are batched along their first axis."""
    from bentoml._internal.marshal.dispatcher import CorkDispatcher

    dispatcher: Callable[[BatchCall], SingleCall] = CorkDispatcher(
        max_latency_in_ms=max_latency_ms,
        max_batch_size=max_batch_size,
        fallback=fallback,
        get_batch_size=get_batch_size,
        batch_dim=(0, 0),
    )
    return dispatcher


def wrap_request_metrics(wrapper: Callable[..., Any]) -> None:
    """BentoML's HTTP request-metrics middleware becomes `wrapper(app, metrics_middleware=
    <BentoML's class>, **its options)` in apps built after this call; calling it again
    changes nothing."""
    from bentoml._internal.server.http import instruments

    current = instruments.RunnerTrafficMetricsMiddleware
    if isinstance(current, functools.partial) and current.func is wrapper:
        return
    instruments.RunnerTrafficMetricsMiddleware = functools.partial(  # type: ignore[misc,assignment]
        wrapper, metrics_middleware=current
    )


def configured_workers(service_name: str) -> object:
    """The worker count BentoML's configuration holds for `service_name` once `bentoml
    serve` has merged the service's own config with the operator's (`BENTOML_CONFIG_OPTIONS`,
    a configuration file): a positive int, `cpu_count`, or None when unset or unreadable."""
    try:
        from bentoml._internal.configuration.containers import BentoMLContainer

        services = BentoMLContainer.config.services.get()
        value: object = (services.get(service_name) or {}).get("workers")
    except Exception:  # a private API: unreadable means unknown
        return None
    return value


JSON = "application/json"


def fix_json_media_type(service: Any, api: str) -> None:
    """Answers of `service`'s `api` are JSON without BentoML rebuilding the output's JSON
    schema for each response to find that out (0.17 ms of a 1-row request here).

    Raises:
        ValueError: BentoML does not work out JSON for that output: nothing is changed.
    """
    output = service.apis[api].output_spec
    if output.media_type is None and output.mime_type() != JSON:
        raise ValueError(f"{api}: BentoML answers {output.mime_type()}, not {JSON}")
    output.media_type = JSON
