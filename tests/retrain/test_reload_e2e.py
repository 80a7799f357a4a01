"""End to end: a running `bentoml serve` picks up a new champion without a restart. A client
sends requests the whole time; `reprokit retrain` on a drifted batch trains, packages and
promotes a new version; the responses switch to it, once, and no request fails."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from tests.retrain.live_client import Client, metric
from tests.retrain.retrain_project import batch
from tests.support import bentoml_env, bentoml_server, run
from tests.support.serving import API_KEY, split_records
from tests.support.templates import relocated_copy

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]

SETTINGS = {
    "REPROKIT_API_KEYS": API_KEY,
    "REPROKIT_RATE_LIMIT_RPS": "0",
    "REPROKIT_LOG_FORMAT": "json",
    "REPROKIT_MODEL_REFRESH_S": "1",
}
SWITCH_SECONDS = 60


def test_a_promotion_reaches_the_running_service_with_no_failed_request(
    first_repro_template: Path, tmp_path: Path
) -> None:
    # v1: trained, registered champion, packaged by the first `dvc repro`.
    project = relocated_copy(first_repro_template, tmp_path / "project")
    drifted = batch(project, tmp_path / "drifted.parquet", 1000, seed=12, drift=True)
    env = bentoml_env(project, project / ".bentoml", SETTINGS)
    log = tmp_path / "serve.log"
    with bentoml_server(project, env, log) as url:
        client = Client(url, [split_records(project, rows=20)])
        client.thread.start()
        try:
            result = run(
                ["reprokit", "retrain", "--if-drift", "--current", str(drifted), "--json"],
                project,
                check=False,
            )
            assert result.returncode == 0, result.stderr[-3000:]
            record = json.loads(result.stdout)
            assert record["decision"]["action"] == "promote", record["decision"]
            deadline = time.monotonic() + SWITCH_SECONDS
            while "2" not in client.versions() and time.monotonic() < deadline:
                time.sleep(0.5)
            served_2 = len(client.answers)
            while len(client.answers) < served_2 + 20:
                time.sleep(0.1)
        finally:
            client.stopped.set()
            client.thread.join(timeout=70)
        metrics = httpx.get(f"{url}/metrics", timeout=10).text

    versions = client.versions()
    assert client.statuses() == {200}, client.answers[-20:]
    assert "2" in versions, f"still {versions[-1]} after {SWITCH_SECONDS} s"
    switch = versions.index("2")
    assert switch > 0 and set(versions[:switch]) == {"1"} and set(versions[switch:]) == {"2"}
    assert metric(metrics, "reprokit_model_reloads_total", 'outcome="switched"') == 1
    assert metric(metrics, "reprokit_model_reloads_total", 'outcome="failed"') is None
    champion = ("reprokit_model_info", 'role="champion"')
    assert metric(metrics, *champion, 'version="2"') == 1
    assert metric(metrics, *champion, 'version="1"') == 0
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    switched = [event for event in events if event.get("event") == "serving.champion_reloaded"]
    assert [(event["previous_version"], event["version"]) for event in switched] == [("1", "2")]
    assert switched[0]["fingerprint"]
