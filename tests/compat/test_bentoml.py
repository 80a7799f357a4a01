"""BentoML's private APIs as reprokit._compat.bentoml uses them: CorkDispatcher batches
concurrent calls and sheds late ones to the fallback; the metrics middleware class is a
module attribute BentoML's service app imports when it is built."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Sequence

import pytest
from bentoml._internal.server.http import instruments

from reprokit._compat.bentoml import cork_dispatcher, wrap_request_metrics


class ShedError(Exception):
    pass


def _shed() -> int:
    raise ShedError


def test_concurrent_calls_share_batches_and_each_gets_its_own_output() -> None:
    batches: list[int] = []

    async def times_ten(values: Sequence[int]) -> list[int]:
        batches.append(len(values))
        return [10 * value for value in values]

    async def scenario() -> list[int]:
        dispatcher = cork_dispatcher(
            max_latency_ms=1000, max_batch_size=8, fallback=_shed, get_batch_size=lambda _: 1
        )
        call = dispatcher(times_ten)
        return list(await asyncio.gather(*(call(value) for value in range(40))))

    assert asyncio.run(scenario()) == [10 * value for value in range(40)]
    assert sum(batches) == 40 and len(batches) < 40 and max(batches) <= 8


def test_a_call_over_the_latency_budget_gets_the_fallback() -> None:
    async def slow(values: Sequence[int]) -> list[int]:
        await asyncio.sleep(0.01)
        return list(values)

    async def scenario() -> list[int | BaseException]:
        dispatcher = cork_dispatcher(
            max_latency_ms=1, max_batch_size=4, fallback=_shed, get_batch_size=lambda _: 1
        )
        call = dispatcher(slow)
        return list(await asyncio.gather(*(call(v) for v in range(30)), return_exceptions=True))

    results = asyncio.run(scenario())
    shed = [result for result in results if isinstance(result, ShedError)]
    assert shed  # a 1 ms budget cannot hold 30 calls of 10 ms
    assert all(isinstance(r, ShedError) or r == v for v, r in enumerate(results))


def test_the_metrics_middleware_is_a_module_attribute_the_app_imports_when_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from _bentoml_impl.server.app import ServiceAppFactory

    original = instruments.RunnerTrafficMetricsMiddleware
    monkeypatch.setattr(instruments, "RunnerTrafficMetricsMiddleware", original)  # restored after
    assert {"namespace", "skip_paths"} <= set(inspect.signature(original).parameters)
    # Imported inside the app's middleware list, so it sees the attribute as replaced.
    source = inspect.getsource(ServiceAppFactory.middlewares.fget)  # type: ignore[attr-defined]
    assert "from bentoml._internal.server.http.instruments import" in source
    assert "RunnerTrafficMetricsMiddleware" in source

    def wrapper(app: object, /, metrics_middleware: type, **options: object) -> object:
        return metrics_middleware(app, **options)

    wrap_request_metrics(wrapper)
    wrap_request_metrics(wrapper)  # once only
    installed = instruments.RunnerTrafficMetricsMiddleware
    assert isinstance(installed, functools.partial) and installed.func is wrapper
    assert installed.keywords == {"metrics_middleware": original}
