"""BentoML's private APIs as reprokit._compat.bentoml uses them: CorkDispatcher batches
concurrent calls and sheds late ones to the fallback; the metrics middleware class is a
module attribute BentoML's service app imports when it is built; an API answering a dict is
JSON whether BentoML works that out per response or is told once."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Sequence
from typing import Any

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


def _json_and_text_services() -> tuple[Any, Any]:
    import bentoml

    @bentoml.service
    class JsonProbe:
        @bentoml.api  # type: ignore[untyped-decorator]
        def answer(self) -> dict[str, Any]:
            raise NotImplementedError

    @bentoml.service
    class TextProbe:
        @bentoml.api  # type: ignore[untyped-decorator]
        def answer(self) -> str:
            raise NotImplementedError

    return JsonProbe, TextProbe


def test_a_dict_answer_is_json_without_its_schema_per_response() -> None:
    from reprokit._compat.bentoml import JSON, fix_json_media_type

    service, _ = _json_and_text_services()
    output = service.apis["answer"].output_spec
    assert output.media_type is None and output.mime_type() == JSON  # BentoML's own answer
    fix_json_media_type(service, "answer")
    assert output.media_type == JSON and output.mime_type() == JSON


def test_an_answer_bentoml_does_not_send_as_json_is_left_alone() -> None:
    from reprokit._compat.bentoml import fix_json_media_type

    _, service = _json_and_text_services()
    output = service.apis["answer"].output_spec
    with pytest.raises(ValueError, match="answer: BentoML answers text/plain"):
        fix_json_media_type(service, "answer")
    assert output.media_type is None
