"""The retraining loop end to end, with the real dvc, MLflow store and pipeline, and a real
`bentoml serve` of the project running the whole time: a batch without drift retrains
nothing; a drifted one is appended, `dvc repro` trains on it, and the new model, better on
the batch's held-out rows, becomes champion; the running service picks it up without a
restart (a client sends requests meanwhile: the responses switch to it once, and no request
fails); a model that misses its quality gate changes nothing, the service keeps serving the
champion and the raw data is put back.

One test, in order: each step starts from the previous one's state, and a retrain, a
server start-up and the first `dvc repro` cost tens of seconds each."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from tests.retrain.live_client import Client, metric
from tests.retrain.retrain_project import RAW, batch
from tests.support import aliases, artifact_text, file_md5, run, store_client
from tests.support.serving import API_KEY, bentoml_env, bentoml_server, predict, split_records
from tests.support.templates import relocated_copy

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]

SETTINGS = {
    "REPROKIT_API_KEYS": API_KEY,
    "REPROKIT_RATE_LIMIT_RPS": "0",
    "REPROKIT_LOG_FORMAT": "json",
    "REPROKIT_MODEL_REFRESH_S": "1",
}
SWITCH_SECONDS = 60


def _retrain(project: Path, current: Path) -> tuple[int, dict[str, object], str]:
    result = run(
        ["reprokit", "retrain", "--if-drift", "--current", str(current), "--json"],
        project,
        check=False,
    )
    record = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, record, result.stderr


def _dvc_pointer_md5(project: Path) -> str:
    text = (project / f"{RAW}.dvc").read_text(encoding="utf-8")
    return text.split("md5: ")[1].split()[0]


def _until_served(live: Client, version: str) -> None:
    """Until the service answers with `version`, then 20 answers more."""
    deadline = time.monotonic() + SWITCH_SECONDS
    while version not in live.versions() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert version in live.versions(), f"still {live.versions()[-1:]} after {SWITCH_SECONDS} s"
    served = len(live.answers)
    while len(live.answers) < served + 20:
        time.sleep(0.1)


def test_drift_retrains_and_promotes_and_a_gate_failure_changes_nothing(
    first_repro_template: Path, tmp_path: Path
) -> None:
    # v1: trained, registered champion, packaged by the first `dvc repro`.
    project = relocated_copy(first_repro_template, tmp_path / "project")
    client = store_client(project)
    assert aliases(client)["champion"] == "1"
    raw_before = file_md5(project / RAW)
    fresh = batch(tmp_path / "fresh.parquet", 1000, seed=11, drift=False)
    drifted = batch(tmp_path / "drifted.parquet", 3000, seed=12, drift=True)
    records = split_records(project, rows=20)
    env = bentoml_env(project, project / ".bentoml", SETTINGS)
    log = tmp_path / "serve.log"
    with bentoml_server(project, env, log) as url:
        live = Client(url, [records])
        live.thread.start()
        try:
            _no_drift_retrains_nothing(project, client, fresh, raw_before)
            run_id = _drift_promotes(project, client, drifted, tmp_path, raw_before)
            _until_served(live, "2")
        finally:
            live.stopped.set()
            live.thread.join(timeout=70)
        _gate_failure_changes_nothing(project, client, drifted, tmp_path, run_id)
        after = predict(url, {"records": records})
        metrics = httpx.get(f"{url}/metrics", timeout=10).text

    assert after.status_code == 200 and after.headers["x-reprokit-model-version"] == "2"
    _switched_once(live, metrics, log)


def _no_drift_retrains_nothing(project: Path, client: Any, fresh: Path, raw_before: str) -> None:
    code, record, stderr = _retrain(project, fresh)
    assert code == 0, stderr
    assert record["decision"] == {"action": "keep", "reason": "no drift, nothing retrained"}
    assert file_md5(project / RAW) == raw_before
    assert len(client.search_model_versions("name = 'reprokit-credit'")) == 1


def _drift_promotes(
    project: Path, client: Any, drifted: Path, tmp_path: Path, raw_before: str
) -> str:
    first = tmp_path / "drifted-1.parquet"
    pd.read_parquet(drifted).head(1000).to_parquet(first, index=False)
    code, record, stderr = _retrain(project, first)
    assert code == 0, stderr
    assert record["drift"]["status"] == "alarm"  # type: ignore[index]
    assert record["raw"]["after"] == 5000  # type: ignore[index]
    assert record["outcome"] == "rejudge"
    assert record["version"] == "2"
    assert record["decision"]["action"] == "promote", record["decision"]  # type: ignore[index]
    assert "held-out rows of the batch" in record["decision"]["reason"]  # type: ignore[index]
    assert aliases(client) == {"champion": "2", "challenger": "2"}
    run_id = str(record["run_id"])
    tags = client.get_run(run_id).data.tags
    assert tags["rk.retrain.decision"] == "promote"
    assert tags["rk.retrain.champion_before"] == "1"
    assert tags["rk.retrain.champion_after"] == "2"
    logged = json.loads(artifact_text(client, run_id, "retrain/decision.json"))
    assert logged["decision"] == record["decision"]
    assert "rk.not_promoted" not in client.get_model_version("reprokit-credit", "2").tags
    # The raw data is tracked by DVC with its new content.
    assert _dvc_pointer_md5(project) == file_md5(project / RAW) != raw_before
    return run_id


def _gate_failure_changes_nothing(
    project: Path, client: Any, drifted: Path, tmp_path: Path, run_id: str
) -> None:
    appended = file_md5(project / RAW)
    rest = tmp_path / "drifted-2.parquet"
    pd.read_parquet(drifted).iloc[1000:].to_parquet(rest, index=False)
    code, _, stderr = _retrain(project, rest)
    assert code == 1
    assert "quality gate failed" in stderr
    assert "Traceback" not in stderr
    assert aliases(client)["champion"] == "2"
    assert file_md5(project / RAW) == appended == _dvc_pointer_md5(project)
    failed = client.search_runs(
        [client.get_run(run_id).info.experiment_id],
        filter_string="tags.`rk.retrain.outcome` = 'gate_failed'",
    )
    assert [r.data.tags["rk.retrain.champion_after"] for r in failed] == ["2"]


def _switched_once(live: Client, metrics: str, log: Path) -> None:
    """v1 answered until the promotion, v2 after it, every request succeeded, and the
    service switched once (the gate failure after it changed nothing)."""
    versions = live.versions()
    assert live.statuses() == {200}, live.answers[-20:]
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
