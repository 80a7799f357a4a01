"""End to end: with `serving.canary` on, a running `bentoml serve` ramps a new champion in
as a canary share of the callers. A client sends requests from 40 callers (API keys) the
whole time, drawn from the training world. (a) `reprokit retrain` on a batch of that world
promotes v2, which ramps 0.25 -> 0.5 -> 1.0 and becomes the champion, with no failed
request. (b) A v3 trained on another world (a drifted batch replacing the raw data) is
promoted by hand; the live traffic drifts against its training profile, so its own drift
alarm rolls it back during the ramp: v2 keeps answering, the rollback is counted, logged
and tagged on v3 in the registry, and the next refreshes do not adopt v3 again."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.retrain.live_client import Answer, Client, metric
from tests.retrain.retrain_project import batch
from tests.support import bentoml_env, bentoml_server, commit_all, run
from tests.support.serving import split_records
from tests.support.templates import relocated_copy

from reprokit.serving.canary import REASON_TAG, ROLLED_BACK, ROLLED_BACK_TAG

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]

KEYS = [f"canary-key-{number:02d}" for number in range(40)]
SETTINGS = {
    "REPROKIT_API_KEYS": ",".join(KEYS),
    "REPROKIT_RATE_LIMIT_RPS": "0",
    "REPROKIT_LOG_FORMAT": "json",
    "REPROKIT_MODEL_REFRESH_S": "1",
}
CONFIG = [
    "serving.canary.enabled=true",
    "serving.canary.steps=[0.25,0.5,1.0]",
    "serving.canary.hold_s=1.5",
    "serving.canary.min_requests=10",
    # A drift verdict after 300 canary rows (6 requests), inside the first hold.
    "monitoring.live.min_rows=300",
    # v3's labels are half noise (the drifted world): it must still pass the gate to ship.
    "evaluation.gates.binary.roc_auc.min=0.55",
]
ROWS_PER_REQUEST = 50
WAIT_SECONDS = 90


def _events(log: Path, name: str) -> list[dict[str, Any]]:
    lines = log.read_text().splitlines()
    return [
        event
        for event in (json.loads(line) for line in lines if line.startswith("{"))
        if event.get("event") == name
    ]


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        assert time.monotonic() < deadline, f"{what}: not within {WAIT_SECONDS} s"
        time.sleep(0.2)


def _retrain(project: Path, *args: str) -> dict[str, Any]:
    result = run(["reprokit", "retrain", *args, "--json"], project, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout))


def _make_champion(project: Path, record: dict[str, Any], version: str) -> None:
    """The new version holds `champion`: by the rule, else moved by hand as a person would."""
    if record["decision"]["action"] != "promote":
        reason = f"test: {version} as champion"
        run(["reprokit", "promote", "challenger", "--reason", reason], project)


def _version_tags(project: Path, version: str) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlruns.db'}")
    return dict(client.get_model_version("reprokit-credit", version).tags)


def test_a_good_canary_ramps_to_champion_and_a_drifting_one_is_rolled_back(
    first_repro_template: Path, tmp_path: Path
) -> None:
    # v1: trained, registered champion, packaged by the first `dvc repro` (the retraining
    # tests' shared template). The canary's config is composed after it: the service reads
    # `serving` and `monitoring` from params.yaml when it starts, and the retrains below
    # run `dvc repro` with the lowered gate; v1 itself passes the default gate.
    project = relocated_copy(first_repro_template, tmp_path / "project")
    run(["reprokit", "config", "compose", *CONFIG], project)
    commit_all(project, "canary on")
    same_world = batch(tmp_path / "same.parquet", 1000, seed=12, drift=False)
    other_world = batch(tmp_path / "drifted.parquet", 4000, seed=13, drift=True)
    records = split_records(project)
    bodies = [
        records[start : start + ROWS_PER_REQUEST]
        for start in range(0, len(records) - ROWS_PER_REQUEST + 1, ROWS_PER_REQUEST)
    ]
    env = bentoml_env(project, project / ".bentoml", SETTINGS)
    log = tmp_path / "serve.log"
    with bentoml_server(project, env, log) as url:
        client = Client(url, bodies, KEYS)
        client.thread.start()
        try:
            # (a) v2, from the same world, ramps in and becomes the champion.
            _make_champion(project, _retrain(project, "--current", str(same_world)), "v2")
            _until(lambda: bool(_events(log, "serving.canary_promoted")), "v2 promoted")
            promoted_at = len(client.answers)
            _until(lambda: len(client.answers) > promoted_at + 40, "answers after v2")
            # (b) v3, from another world, is rolled back by its own traffic's drift alarm.
            replaced = _retrain(project, "--mode", "replace", "--current", str(other_world))
            _make_champion(project, replaced, "v3")
            _until(lambda: bool(_events(log, "serving.canary_rolled_back")), "v3 rolled back")
            rolled_back_at = len(client.answers)
            time.sleep(3)  # three refreshes: the champion alias still names v3
            _until(lambda: len(client.answers) > rolled_back_at + 40, "answers after v3")
        finally:
            client.stopped.set()
            client.thread.join(timeout=70)
        metrics = httpx.get(f"{url}/metrics", timeout=10).text

    assert client.statuses() == {200}, client.answers[-20:]
    promoted = _ramped_in(client.answers, log)
    _rolled_back(client.answers[promoted:], client.answers[rolled_back_at:], log, metrics)
    tags = _version_tags(project, "3")
    [rollback] = _events(log, "serving.canary_rolled_back")
    assert tags[ROLLED_BACK_TAG] == ROLLED_BACK and tags[REASON_TAG] == rollback["detail"]
    # The champion was resolved again every second, at info only on a change and at start-up
    # (of each process: the deployment check, then the worker): v1, v1, v2, v3 (refused).
    resolved = [event["tag"] for event in _events(log, "serving.model_resolved")]
    assert resolved[0] == resolved[1] and len(resolved) == len({*resolved}) + 1, resolved


def _ramped_in(answers: list[Answer], log: Path) -> int:
    """v1 alone, then v2 as a canary next to v1, then v2 alone: where v2 became champion."""
    first_v2 = [answer.version for answer in answers].index("2")
    assert {a.version for a in answers[:first_v2]} == {"1"}
    assert answers[first_v2].role == "canary"
    promoted = next(i for i, a in enumerate(answers) if (a.version, a.role) == ("2", "champion"))
    ramp = answers[first_v2:promoted]
    assert {a.version for a in ramp} == {"1", "2"}, "the canary served a share, not everyone"
    assert {a.role for a in ramp if a.version == "2"} == {"canary"}
    assert [event["share"] for event in _events(log, "serving.canary_stepped")][:1] == [0.5]
    return promoted


def _rolled_back(
    since_v2: list[Answer], after_rollback: list[Answer], log: Path, metrics: str
) -> None:
    """v3 answered some canary requests, then never again; v2 answers everyone."""
    assert {(a.version, a.role) for a in since_v2} == {("2", "champion"), ("3", "canary")}
    assert {a.version for a in after_rollback} == {"2"}
    [rollback] = _events(log, "serving.canary_rolled_back")
    assert rollback["reason"] == "drift" and rollback["detail"].startswith("drift alarm on")
    [started_v3] = [e for e in _events(log, "serving.canary_started") if e["version"] == "3"]
    assert started_v3["canary"] == rollback["canary"]  # started once: never re-adopted
    v3 = f'model="{rollback["canary"]}"'
    rollbacks = "reprokit_canary_rollbacks_total"
    assert metric(metrics, rollbacks, v3, 'reason="drift"') == 1
    assert metric(metrics, rollbacks, v3, 'reason="error_rate"') == 0  # there from the start
    assert metric(metrics, "reprokit_canary_share", v3) == 0
    assert metric(metrics, "reprokit_model_info", 'role="champion"', 'version="2"') == 1
