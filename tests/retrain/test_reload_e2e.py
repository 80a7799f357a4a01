"""End to end: a running `bentoml serve` picks up a new champion without a restart. A client
sends requests the whole time; `reprokit retrain` on a drifted batch trains, packages and
promotes a new version; the responses switch to it, once, and no request fails."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from tests.retrain.retrain_project import batch, file_sourced
from tests.support import bentoml_env, bentoml_server, run
from tests.support.serving import API_KEY, predict, split_records

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]

SETTINGS = {
    "REPROKIT_API_KEYS": API_KEY,
    "REPROKIT_RATE_LIMIT_RPS": "0",
    "REPROKIT_LOG_FORMAT": "json",
    "REPROKIT_MODEL_REFRESH_S": "1",
}
SWITCH_SECONDS = 60


class Client:
    """Sends the same request over and over on a thread; keeps each answer's status and
    model version header."""

    def __init__(self, url: str, records: list[dict[str, object]]) -> None:
        self.url = url
        self.body = {"records": records}
        self.answers: list[tuple[int, str | None]] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        while not self.stopped.is_set():
            try:
                response = predict(self.url, self.body)
                version = response.headers.get("x-reprokit-model-version")
                self.answers.append((response.status_code, version))
            except httpx.TransportError as error:
                self.answers.append((0, type(error).__name__))

    def versions(self) -> list[str | None]:
        return [version for _status, version in self.answers]


def _metric(text: str, name: str, *labels: str) -> float | None:
    """The value of the sample `name{...}` whose labels include each of `labels`."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(label in line for label in labels):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_a_promotion_reaches_the_running_service_with_no_failed_request(
    project_copy: Path, tmp_path: Path
) -> None:
    project = file_sourced(project_copy, rows=4000)
    run(["dvc", "repro"], project)  # v1: trained, registered champion, packaged
    drifted = batch(project, tmp_path / "drifted.parquet", 1000, seed=12, drift=True)
    env = bentoml_env(project, project / ".bentoml", SETTINGS)
    log = tmp_path / "serve.log"
    with bentoml_server(project, env, log) as url:
        client = Client(url, split_records(project, rows=20))
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
    assert {status for status, _version in client.answers} == {200}, client.answers[-20:]
    assert "2" in versions, f"still {versions[-1]} after {SWITCH_SECONDS} s"
    switch = versions.index("2")
    assert switch > 0 and set(versions[:switch]) == {"1"} and set(versions[switch:]) == {"2"}
    assert _metric(metrics, "reprokit_model_reloads_total", 'outcome="switched"') == 1
    assert _metric(metrics, "reprokit_model_reloads_total", 'outcome="failed"') is None
    champion = ("reprokit_model_info", 'role="champion"')
    assert _metric(metrics, *champion, 'version="2"') == 1
    assert _metric(metrics, *champion, 'version="1"') == 0
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    switched = [event for event in events if event.get("event") == "serving.champion_reloaded"]
    assert [(event["previous_version"], event["version"]) for event in switched] == [("1", "2")]
    assert switched[0]["fingerprint"]
