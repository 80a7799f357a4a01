"""A/B assignment, shadow scheduling, serving settings, metrics and the batcher, in-process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram
from tests.support.settings_env import from_env

from reprokit.config.models import ChallengerConfig
from reprokit.errors import ConfigError
from reprokit.serving.ab import ShadowScheduler, caller_bucket, caller_key, selected
from reprokit.serving.batching import PredictBatcher, split_rows
from reprokit.serving.bundle import Bundle
from reprokit.serving.config import load_serving_config
from reprokit.serving.metrics import PROBABILITY_BUCKETS, observe_many


def test_caller_bucket_is_stable_and_spread() -> None:
    buckets = [caller_bucket("salt", f"key-{n}") for n in range(4000)]
    assert buckets == [caller_bucket("salt", f"key-{n}") for n in range(4000)]
    assert all(0.0 <= value < 1.0 for value in buckets)
    share = sum(value < 0.25 for value in buckets) / len(buckets)
    assert abs(share - 0.25) < 0.03
    assert caller_bucket("other", "key-1") != caller_bucket("salt", "key-1")


def test_selection_needs_a_mode_and_grows_monotonically_with_the_fraction() -> None:
    callers = [f"c{n}" for n in range(500)]
    off = ChallengerConfig(mode="none", fraction=1.0)
    assert not any(selected(off, caller) for caller in callers)
    small = {c for c in callers if selected(ChallengerConfig(mode="split", fraction=0.1), c)}
    large = {c for c in callers if selected(ChallengerConfig(mode="split", fraction=0.4), c)}
    assert small < large  # raising the fraction only moves callers to the challenger
    assert all(selected(ChallengerConfig(mode="shadow", fraction=1.0), c) for c in callers)


def test_caller_key_is_the_key_id_else_the_client_address() -> None:
    assert caller_key({"k": "abc123", "client": ("1.2.3.4", 5)}, "k") == "abc123"
    assert caller_key({"client": ("1.2.3.4", 5)}, "k") == "addr:1.2.3.4"


def test_shadow_scheduler_skips_past_its_limit_and_swallows_failures() -> None:
    async def scenario() -> tuple[list[bool], int]:
        scheduler = ShadowScheduler(limit=2)
        release = asyncio.Event()
        ran: list[int] = []

        async def slow() -> None:
            await release.wait()
            ran.append(1)

        async def failing() -> None:
            raise RuntimeError("challenger broke")

        started = [scheduler.submit(slow), scheduler.submit(slow), scheduler.submit(slow)]
        release.set()
        await asyncio.sleep(0.05)
        assert scheduler.submit(failing)  # its error is logged, not raised
        await asyncio.sleep(0.05)
        return started, len(ran) + scheduler.in_flight

    started, finished = asyncio.run(scenario())
    assert started == [True, True, False]
    assert finished == 2


def _params(tmp_path: Path, serving: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(f"seed: 1\nserving:\n{serving}", encoding="utf-8")
    return path


def test_settings_come_from_params_then_env(tmp_path: Path) -> None:
    _params(tmp_path, "  enabled: true\n  challenger: {mode: split, tag: m:1, fraction: 0.2}\n")
    config, source = load_serving_config(from_env(), cwd=tmp_path)
    assert (config.challenger.mode, config.challenger.tag, config.challenger.fraction) == (
        "split",
        "m:1",
        0.2,
    )
    assert not config.batching.enabled and source.endswith("params.yaml")
    env = {"REPROKIT_CHALLENGER_MODE": "shadow", "REPROKIT_BATCHING": "1"}
    config, source = load_serving_config(from_env(**env), cwd=tmp_path)
    assert config.challenger.mode == "shadow" and config.challenger.tag == "m:1"
    assert config.batching.enabled and "REPROKIT_BATCHING" in source


def test_settings_default_without_params_file(tmp_path: Path) -> None:
    config, source = load_serving_config(from_env(), cwd=tmp_path)
    assert config.challenger.mode == "none" and source == "defaults"


@pytest.mark.parametrize(
    ("env", "serving", "expected"),
    [
        (
            {"REPROKIT_CHALLENGER_FRACTION": "1.5"},
            "  enabled: true\n",
            "serving.challenger.fraction",
        ),
        ({}, "  challenger: {mode: 'off'}\n", "serving.challenger.mode"),
        ({}, "  batching: {max_batch_size: 0}\n", "serving.batching.max_batch_size"),
        ({}, "  chalenger: {}\n", "serving.chalenger"),
    ],
)
def test_bad_settings_name_the_key_and_the_source(
    tmp_path: Path, env: dict[str, str], serving: str, expected: str
) -> None:
    _params(tmp_path, serving)
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")) as error:
        load_serving_config(from_env(**env), cwd=tmp_path)
    assert "params.yaml" in str(error.value)


def test_a_named_params_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="REPROKIT_PARAMS"):
        load_serving_config(from_env(REPROKIT_PARAMS=str(tmp_path / "nope.yaml")))


def test_observe_many_equals_observing_each_value() -> None:
    values = np.array([0.0, 0.05, 0.051, 0.5, 0.99, 1.0, 2.0, np.nan, -0.1])

    def histogram(name: str) -> Histogram:
        return Histogram(
            name, "h", ["m"], buckets=PROBABILITY_BUCKETS, registry=CollectorRegistry()
        )

    bulk, single = histogram("bulk"), histogram("single")
    observe_many(bulk.labels(m="a"), values)
    for value in values[np.isfinite(values)]:
        single.labels(m="a").observe(float(value))

    def samples(metric: Histogram) -> list[tuple[str, dict[str, str], float]]:
        return [
            (s.name.split("_", 1)[1], s.labels, s.value)
            for family in metric.collect()
            for s in family.samples
            if not s.name.endswith("_created")
        ]

    got, want = samples(bulk), samples(single)
    assert [(name, labels) for name, labels, _ in got] == [(n, lab) for n, lab, _ in want]
    assert [value for *_, value in got] == pytest.approx([value for *_, value in want])


def test_split_rows_returns_each_requests_rows() -> None:
    parts = split_rows(np.arange(6.0), [1, 3, 2])
    assert [part.tolist() for part in parts] == [[0.0], [1.0, 2.0, 3.0], [4.0, 5.0]]


class _SumBooster:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, matrix: np.ndarray[Any, Any], num_threads: int) -> np.ndarray[Any, Any]:
        self.calls.append(len(matrix))
        return np.asarray(matrix.sum(axis=1))


def test_batcher_gives_each_request_its_own_rows() -> None:
    booster = _SumBooster()
    bundle = cast(Bundle, SimpleNamespace(predictor=booster, num_threads=1))
    matrices = [np.full((n % 4 + 1, 3), float(n)) for n in range(40)]

    async def scenario() -> list[np.ndarray[Any, Any]]:
        batcher = PredictBatcher(bundle, max_batch_size=50, max_latency_ms=50)
        return list(await asyncio.gather(*(batcher.predict(m) for m in matrices)))

    results = asyncio.run(scenario())
    for matrix, result in zip(matrices, results, strict=True):
        assert result.tolist() == matrix.sum(axis=1).tolist()
    assert len(booster.calls) < len(matrices)  # concurrent requests shared predict calls
    assert max(booster.calls) <= 50


class _SlowBooster(_SumBooster):
    def predict(self, matrix: np.ndarray[Any, Any], num_threads: int) -> np.ndarray[Any, Any]:
        time.sleep(0.01)
        return super().predict(matrix, num_threads)


def test_a_request_the_dispatcher_gives_up_on_is_scored_alone_not_refused() -> None:
    bundle = cast(Bundle, SimpleNamespace(predictor=_SlowBooster(), num_threads=1))
    matrices = [np.full((2, 3), float(n)) for n in range(30)]

    reported: list[None] = []
    batched: list[int] = []

    async def scenario() -> tuple[list[np.ndarray[Any, Any]], int]:
        batcher = PredictBatcher(
            bundle,
            max_batch_size=4,
            max_latency_ms=1,
            on_batch=batched.append,
            on_shed=lambda: reported.append(None),
        )
        results = await asyncio.gather(*(batcher.predict(m) for m in matrices))
        return list(results), batcher.shed

    results, shed = asyncio.run(scenario())
    assert [r.tolist() for r in results] == [m.sum(axis=1).tolist() for m in matrices]
    assert shed > 0  # a 1 ms budget cannot hold 30 requests of 10 ms: some were shed
    assert len(reported) == shed  # each shed request reaches the metric hook once
    assert sum(batched) + shed == len(matrices)  # every request counted exactly once
