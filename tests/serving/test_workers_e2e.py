"""End to end: one real `bentoml serve` with two workers (`REPROKIT_WORKERS=2`): both answer,
with the same bytes for the same request, and the rate limit holds for the server, not per
worker."""

from __future__ import annotations

import json
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from tests.support.serving import (
    SERVICE_SETTINGS,
    access_log_lines,
    bentoml_server,
    packaged_project,
    predict,
    split_records,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]

BURST = 6
EXTRA = 10
BURST_KEY = "workers-burst-key"
# One key per few requests of the first part: each stays within its own burst.
SPREAD_KEYS = [f"workers-key-{index}" for index in range(20)]
SETTINGS = {
    **SERVICE_SETTINGS,
    "REPROKIT_WORKERS": "2",
    "REPROKIT_API_KEYS": ",".join([BURST_KEY, *SPREAD_KEYS]),
    # No refill to speak of during the test: every 2xx is a token of the burst.
    "REPROKIT_RATE_LIMIT_RPS": "0.001",
    "REPROKIT_RATE_LIMIT_BURST": str(BURST),
}


ROWS = ("reprokit_predicted_rows_total", "")
CPU = ("reprokit_prediction_cpu_seconds_total", "")


def _pid(log: Path, request_id: str) -> int:
    lines = access_log_lines(log, request_id)
    assert len(lines) == 1, lines
    return int(lines[0]["pid"])


def _samples(text: str) -> dict[tuple[str, str], float]:
    """Sums of the scrape's samples by (metric, outcome or role)."""
    from prometheus_client.parser import text_string_to_metric_families

    sums: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            label = sample.labels.get("outcome") or sample.labels.get("role", "")
            key = (sample.name, label)
            sums[key] = sums.get(key, 0.0) + sample.value
    return sums


def _state_directory(log: Path) -> Path:
    match = re.search(r'"event":"serving.workers".*?"shared_state":"([^"]+)"', log.read_text())
    assert match, log.read_text()
    return Path(match[1])


def test_two_workers_answer_alike_and_share_the_rate_limit(
    tmp_path: Path, trained_template: Path
) -> None:
    packaged = packaged_project(tmp_path, trained_template, SETTINGS)
    body = {"records": split_records(packaged.root, rows=3)}
    log = tmp_path / "serve.log"
    with bentoml_server(packaged.root, packaged.env, log) as url:
        state = _state_directory(log)
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        idle = _samples(httpx.get(f"{url}/metrics", timeout=30).text)

        # (a) The same request, on fresh connections, until both workers have answered it.
        answers: dict[int, set[bytes]] = {}
        sent = 0
        for index in range(3 * len(SPREAD_KEYS)):
            sent += 1
            request_id = f"spread-{index}"
            key = SPREAD_KEYS[index // 3]
            response = predict(url, body, key, headers={"x-request-id": request_id})
            assert response.status_code == 200, response.text
            answers.setdefault(_pid(log, request_id), set()).add(response.content)
            if len(answers) == 2 and index >= 9:
                break
        assert len(answers) == 2, f"one worker answered every request: {answers.keys()}"
        (first,), (second,) = answers.values()  # one body per worker...
        assert first == second  # ...and the same bytes from both
        assert len(json.loads(first)["predictions"]) == 3

        # (b) A burst of BURST + EXTRA requests with one key, concurrent, over both workers.
        def one(index: int) -> tuple[int, int]:
            request_id = f"burst-{index}"
            response = predict(url, body, BURST_KEY, headers={"x-request-id": request_id})
            return response.status_code, _pid(log, request_id)

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(one, range(BURST + EXTRA)))
        statuses = sorted(status for status, _ in results)
        assert statuses == [200] * BURST + [429] * EXTRA
        assert len({pid for _, pid in results}) == 2, results

        # The metrics of both workers, merged by one scrape: counters add up, the model's
        # info gauge (livemax) stays 1.
        samples = _samples(httpx.get(f"{url}/metrics", timeout=30).text)
        assert samples["reprokit_requests_total", "ok"] == sent + BURST
        assert samples["reprokit_requests_total", "rate_limited"] == EXTRA
        assert samples["reprokit_model_info", "champion"] == 1.0
        # What the predictions cost: both workers' CPU and rows, added up by the scrape.
        assert samples[ROWS] == 3 * (sent + BURST)
        assert samples[CPU] > idle.get(CPU, 0.0)
    assert not state.exists()  # the server removed its state directory on the way out
