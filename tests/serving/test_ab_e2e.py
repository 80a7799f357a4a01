"""End to end: champion/challenger split, shadow scoring, reprokit's metrics and batching,
against real `bentoml serve` processes over HTTP.

One project copy trains and packages two models (the default config, then
`model.num_leaves=7`); two servers share it for the module: a split server (batching on)
and a shadow server (batching off, challenger found by the registry alias). A third start,
with an unknown challenger tag, must fail before any worker starts.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.support import (
    access_log_lines,
    bentoml_env,
    bentoml_server,
    free_port,
    run,
)
from tests.support.serving import predict, split_records
from tests.support.templates import relocated_copy
from tests.support.tools import stdout_of

from reprokit.serving.ab import caller_bucket
from reprokit.serving.bundle import ModelInfo, load_bundle, predict_frame
from reprokit.serving.request import validate_records

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]

KEYS = [f"ab-key-{number:03d}" for number in range(240)]
FRACTION = 0.3
SALT = "test-salt"
TOLERANCE = 0.08  # 3 binomial standard deviations at 240 callers and p = 0.3


@dataclass(frozen=True)
class Project:
    root: Path
    env: dict[str, str]
    champion: str  # the default model's tag
    challenger: str  # the num_leaves=7 model's tag (its registry version holds `challenger`)


@dataclass(frozen=True)
class Server:
    url: str
    log: Path
    project: Project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, trained_template: Path) -> Project:
    base = tmp_path_factory.mktemp("ab")
    root = relocated_copy(trained_template, base / "project")  # the default `reprokit run`
    env = {
        **bentoml_env(root, base / "bentoml"),
        "REPROKIT_API_KEYS": ",".join(KEYS),
        "REPROKIT_RATE_LIMIT_RPS": "0",
    }
    champion = stdout_of(["reprokit", "package"], root, env).strip().split()[-1]
    run(["reprokit", "run", "model.num_leaves=7"], root)
    challenger = stdout_of(["reprokit", "package"], root, env).strip().split()[-1]
    assert champion != challenger
    return Project(root=root, env=env, champion=champion, challenger=challenger)


def start(project: Project, name: str, settings: dict[str, str]) -> Iterator[Server]:
    log = project.root.parent / f"{name}.log"
    env = {**project.env, "REPROKIT_MODEL_TAG": project.champion, **settings}
    with bentoml_server(project.root, env, log) as url:
        yield Server(url=url, log=log, project=project)


@pytest.fixture(scope="module")
def split_server(project: Project) -> Iterator[Server]:
    yield from start(
        project,
        "split",
        {
            "REPROKIT_CHALLENGER_MODE": "split",
            "REPROKIT_CHALLENGER_TAG": project.challenger,
            "REPROKIT_CHALLENGER_FRACTION": str(FRACTION),
            "REPROKIT_CHALLENGER_SALT": SALT,
            "REPROKIT_BATCHING": "1",
            "REPROKIT_BATCH_MAX_LATENCY_MS": "200",
        },
    )


@pytest.fixture(scope="module")
def shadow_server(project: Project) -> Iterator[Server]:
    # No tag: the challenger is the packaged model whose registry version holds the
    # `challenger` alias (the newest registered version: the num_leaves=7 model).
    yield from start(
        project,
        "shadow",
        {"REPROKIT_CHALLENGER_MODE": "shadow", "REPROKIT_CHALLENGER_FRACTION": "1"},
    )


def records(project: Project, rows: int, offset: int = 0) -> list[dict[str, Any]]:
    return split_records(project.root, rows, offset)


def metrics(server: Server) -> dict[str, float]:
    """reprokit's samples on /metrics: `name{labels}` -> value."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("reprokit_"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def sample(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    total = 0.0
    for key, value in samples.items():
        metric, _, rest = key.partition("{")
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if metric == name and labels.items() <= found.items():
            total += value
    return total


def offline(project: Project, tag: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same packaged model scored in-process, read from the store's folder (no server)."""
    name, version = tag.split(":")
    directory = Path(project.env["BENTOML_HOME"]) / "models" / name / version
    metadata = yaml.safe_load((directory / "model.yaml").read_text())["metadata"]
    bundle = load_bundle(directory, ModelInfo(tag=tag), metadata)
    return predict_frame(bundle, validate_records(rows, bundle.request_spec, 10_000))


def expected_challenger(key: str) -> bool:
    key_id = hashlib.sha256(key.encode()).hexdigest()[:12]  # the middleware's key id
    return caller_bucket(SALT, key_id) < FRACTION


def test_split_ratio_and_stickiness_per_key(split_server: Server) -> None:
    project = split_server.project
    before = metrics(split_server)
    body = {"records": records(project, 2)}
    roles: dict[str, set[str]] = {}
    for key in KEYS:
        for _ in range(2 if key in KEYS[:40] else 1):  # stickiness: 40 keys ask twice
            response = predict(split_server.url, body, key)
            assert response.status_code == 200, response.text
            role = response.json()["model"]["role"]
            tag = response.json()["model"]["tag"]
            assert response.headers["x-reprokit-model-role"] == role
            assert tag == (project.challenger if role == "challenger" else project.champion)
            roles.setdefault(key, set()).add(role)
    assert all(len(seen) == 1 for seen in roles.values())  # one caller, one model
    to_challenger = [key for key, seen in roles.items() if seen == {"challenger"}]
    share = len(to_challenger) / len(KEYS)
    assert abs(share - FRACTION) < TOLERANCE, share
    assert set(to_challenger) == {key for key in KEYS if expected_challenger(key)}
    # Each role's requests were counted under its model.
    after = metrics(split_server)
    for role, tag in (("challenger", project.challenger), ("champion", project.champion)):
        served = sum(
            (2 if key in KEYS[:40] else 1) for key, seen in roles.items() if seen == {role}
        )
        name = "reprokit_requests_total"
        labels = {"model": tag, "role": role, "outcome": "ok"}
        assert sample(after, name, **labels) - sample(before, name, **labels) == served


def test_split_roles_reach_the_access_log(split_server: Server) -> None:
    key = next(key for key in KEYS if expected_challenger(key))
    predict(
        split_server.url,
        {"records": records(split_server.project, 1)},
        key,
        headers={"X-Request-ID": "ab-log-1"},
    )
    mine = access_log_lines(split_server.log, "ab-log-1")
    assert mine and mine[0]["model_role"] == "challenger"
    assert mine[0]["model_tag"] == split_server.project.challenger


def test_model_info_gauge_names_both_models(split_server: Server) -> None:
    samples = metrics(split_server)
    project = split_server.project
    for role, tag in (("champion", project.champion), ("challenger", project.challenger)):
        assert sample(samples, "reprokit_model_info", tag=tag, role=role) == 1.0
    labelled = [key for key in samples if key.startswith("reprokit_model_info{")]
    assert all('version="' in key and 'fingerprint="' in key for key in labelled)
    assert any(re.search(r'fingerprint="[0-9a-f]{12}"', key) for key in labelled)


def test_prediction_and_latency_histograms_by_model(split_server: Server) -> None:
    project = split_server.project
    key = next(key for key in KEYS if not expected_challenger(key))
    before = metrics(split_server)
    assert predict(split_server.url, {"records": records(project, 25)}, key).status_code == 200
    after = metrics(split_server)
    labels = {"model": project.champion, "role": "champion"}
    grew = sample(after, "reprokit_prediction_count", **labels) - sample(
        before, "reprokit_prediction_count", **labels
    )
    assert grew == 25
    buckets = [
        name
        for name in after
        if name.startswith("reprokit_prediction_bucket{") and project.champion in name
    ]
    assert any('le="0.5"' in name for name in buckets)  # probability buckets (binary)
    assert sample(after, "reprokit_request_duration_seconds_count", **labels) > 0


def test_batching_keeps_per_request_422_and_exact_predictions(split_server: Server) -> None:
    project = split_server.project
    key = next(key for key in KEYS if not expected_challenger(key))
    good = [records(project, 3, offset=3 * index) for index in range(24)]
    bad = records(project, 2, offset=100)
    bad[1]["age"] = "forty"
    bodies: list[list[dict[str, Any]]] = []
    for index, rows in enumerate(good):
        bodies.append(rows)
        if index % 3 == 0:
            bodies.append(bad)
    before = metrics(split_server)
    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(
            pool.map(lambda rows: predict(split_server.url, {"records": rows}, key), bodies)
        )
    after = metrics(split_server)
    for rows, response in zip(bodies, responses, strict=True):
        if rows is bad:
            assert response.status_code == 422, response.text
            violation = response.json()["violations"][0]
            assert (violation["field"], violation["rule"], violation["rows"]) == (
                "age",
                "dtype",
                [1],
            )
        else:
            assert response.status_code == 200, response.text
            assert response.json()["predictions"] == offline(project, project.champion, rows)
    name = "reprokit_batch_requests"
    requests = sample(after, f"{name}_sum", model=project.champion) - sample(
        before, f"{name}_sum", model=project.champion
    )
    batches = sample(after, f"{name}_count", model=project.champion) - sample(
        before, f"{name}_count", model=project.champion
    )
    shed = sample(after, "reprokit_batch_shed_total", model=project.champion) - sample(
        before, "reprokit_batch_shed_total", model=project.champion
    )
    # Every valid request went through the batcher, no bad one: batched, or (under load,
    # past max_latency_ms) shed and scored alone.
    assert requests + shed == len(good)
    # Whether requests meet in one predict call depends on timing (validation, in threads,
    # costs more than predict); the in-process batcher test shows the sharing itself.
    assert batches <= requests


def test_shadow_answers_with_champion_and_scores_challenger(shadow_server: Server) -> None:
    project = shadow_server.project
    before = metrics(shadow_server)
    ids = [f"shadow-{number}" for number in range(5)]
    for request_id in ids:
        response = predict(
            shadow_server.url,
            {"records": records(project, 4)},
            KEYS[0],
            headers={"X-Request-ID": request_id},
        )
        assert response.status_code == 200
        assert response.json()["model"]["tag"] == project.champion
        assert response.json()["model"]["role"] == "champion"
        assert response.json()["predictions"] == offline(
            project, project.champion, records(project, 4)
        )
    deadline = time.monotonic() + 20
    shadow_lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        shadow_lines = [
            json.loads(line)
            for line in shadow_server.log.read_text().splitlines()
            if line.startswith('{"event":"shadow"')
        ]
        if {line["request_id"] for line in shadow_lines} >= set(ids):
            break
        time.sleep(0.2)
    mine = [line for line in shadow_lines if line["request_id"] in ids]
    assert len(mine) == len(ids)
    assert {line["model_tag"] for line in mine} == {project.challenger}
    assert all(line["outcome"] == "ok" and line["mean_abs_diff"] > 0 for line in mine)
    after = metrics(shadow_server)
    labels = {"model": project.challenger, "role": "shadow", "outcome": "ok"}
    assert sample(after, "reprokit_requests_total", **labels) - sample(
        before, "reprokit_requests_total", **labels
    ) == len(ids)
    assert sample(after, "reprokit_model_info", tag=project.challenger, role="shadow") == 1.0
    shadow_predictions = {"model": project.challenger, "role": "shadow"}
    assert sample(after, "reprokit_prediction_count", **shadow_predictions) - sample(
        before, "reprokit_prediction_count", **shadow_predictions
    ) == 4 * len(ids)


def test_unknown_challenger_tag_stops_the_server_at_start_up(project: Project) -> None:
    env = {
        **project.env,
        "REPROKIT_CHALLENGER_MODE": "split",
        "REPROKIT_CHALLENGER_TAG": "reprokit-credit:doesnotexist",
    }
    result = subprocess.run(
        ["bentoml", "serve", "--host", "127.0.0.1", "--port", str(free_port())],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert (
        "the challenger model 'reprokit-credit:doesnotexist' is not in the BentoML store"
        in result.stdout + result.stderr
    )


def test_bad_serving_setting_is_a_clear_start_up_error(project: Project) -> None:
    result = subprocess.run(
        ["bentoml", "serve", "--host", "127.0.0.1", "--port", str(free_port())],
        cwd=project.root,
        env={**project.env, "REPROKIT_CHALLENGER_FRACTION": "1.5"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "serving.challenger.fraction" in result.stdout + result.stderr
