"""End to end: `reprokit run` -> `reprokit package` -> one real `bentoml serve` over HTTP.

Every bentoml-related process gets a temporary BENTOML_HOME: the user's ~/bentoml is never
touched. The server is started once for the module and its process group always ends.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import yaml
from tests.support import VENV_BIN, access_log_lines, free_port
from tests.support.serving import (
    API_KEY,
    AUTH_FAILURE_BURST,
    BODY_TIMEOUT_S,
    BURST,
    BURST_KEY,
    MAX_BODY_BYTES,
    bentoml_server,
    packaged_project,
    predict,
    split_records,
)
from tests.support.tools import stdout_of, stop_group

from reprokit.serving.batch import frame_to_records

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]


@dataclass(frozen=True)
class Served:
    root: Path
    url: str
    env: dict[str, str]
    log: Path
    tag: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, trained_template: Path) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("serving")
    packaged = packaged_project(base, trained_template)
    log = base / "serve.log"
    with bentoml_server(packaged.root, packaged.env, log) as url:
        yield Served(root=packaged.root, url=url, env=packaged.env, log=log, tag=packaged.tag)


def post(served: Served, body: Any, key: str | None = API_KEY, **kwargs: Any) -> httpx.Response:
    return predict(served.url, body, key, **kwargs)


def test_records(served: Served, rows: int | None = None) -> list[dict[str, Any]]:
    return split_records(served.root, rows)


test_records.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def last_run(served: Served) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((served.root / ".reprokit/last_run.json").read_text())
    return value


def test_package_is_idempotent_and_records_the_run(served: Served) -> None:
    again = stdout_of(["reprokit", "package"], served.root, served.env)
    assert again.strip() == f"already packaged: {served.tag}"
    listed = json.loads(
        stdout_of(["bentoml", "models", "list", "-o", "json"], served.root, served.env)
    )
    assert [item["tag"] for item in listed] == [served.tag]
    model_yaml = next((Path(served.env["BENTOML_HOME"]) / "models").glob("*/*/model.yaml"))
    text = model_yaml.read_text()
    assert last_run(served)["run_id"] in text
    assert sorted(p.name for p in model_yaml.parent.iterdir()) == [
        "feature_state.json",
        "model.txt",
        "model.yaml",
        "reference_profile.json",
        "request_schema.json",
    ]
    request_schema = json.loads((model_yaml.parent / "request_schema.json").read_text())
    assert "default" not in request_schema["columns"]


def test_predictions_carry_probabilities_label_and_model(served: Served) -> None:
    response = post(served, {"records": test_records(served, 5)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["predictions"]) == 5
    for prediction in body["predictions"]:
        probabilities = prediction["probabilities"]
        assert set(probabilities) == {"0", "1"}
        assert math.isclose(sum(probabilities.values()), 1.0)
        assert prediction["label"] == (1 if probabilities["1"] >= 0.5 else 0)
    model = body["model"]
    recorded = last_run(served)
    assert model["tag"] == served.tag
    assert model["fingerprint"] == recorded["fingerprint"]
    # The copy's registry has one version: the champion the service picked.
    assert model["model_version"] == recorded["model_version"] == "1"
    assert response.headers["x-reprokit-model-version"] == "1"
    assert response.headers["x-request-id"]
    # The headers carry what `reprokit lineage` walks from: the served model's chain holds.
    headers = response.headers
    assert headers["x-reprokit-model-run-id"] == recorded["run_id"]
    lineage = stdout_of(
        [
            "reprokit",
            "lineage",
            headers["x-reprokit-model-tag"],
            "--fingerprint",
            headers["x-reprokit-model-fingerprint"],
            "--json",
        ],
        served.root,
        served.env,
    )
    links = {link["link"]: link["status"] for link in json.loads(lineage)["links"]}
    assert links["prediction -> BentoML model"] == links["MLflow run"] == "verified"


def test_parity_with_offline_booster_on_the_test_split(served: Served) -> None:
    root = served.root
    state = json.loads((root / "data/04_feature/feature_state.json").read_text())
    features = pd.read_parquet(root / "data/05_model_input/test_features.parquet")
    matrix = features[state["feature_names"]].to_numpy(dtype=np.float64, na_value=np.nan)
    offline = lgb.Booster(model_file=str(root / "data/06_models/model.txt")).predict(matrix)
    response = post(served, {"records": test_records(served)})
    assert response.status_code == 200, response.text[:2000]
    online = np.array([p["probabilities"]["1"] for p in response.json()["predictions"]])
    assert len(online) == len(offline) == 2000
    assert np.array_equal(online, offline)  # exactly, not approximately


# The answer's `input` field (JSON with or without a space after the colon).
COLUMNS_INPUT = re.compile(rb'("input":\s*)"columns"')


def test_a_columnar_body_gets_the_records_answer_byte_for_byte(served: Served) -> None:
    records = test_records(served)
    invalid = [{**records[0], "age": 5}, *records[1:3]]
    for rows, status in ((records, 200), (invalid, 422)):
        columns = {name: [record[name] for record in rows] for name in rows[0]}
        by_records = post(served, {"records": rows})
        by_columns = post(served, {"columns": columns})
        assert by_records.status_code == by_columns.status_code == status, by_columns.text[:500]
        # The same bytes but the answer's `input`, which says which body was sent.
        said, found = COLUMNS_INPUT.subn(rb'\1"records"', by_columns.content)
        assert said == by_records.content and found == (1 if status == 200 else 0)
    both = post(served, {"records": records[:1], "columns": {"age": [30]}})
    assert both.status_code == 422 and "exactly one" in both.text


def drift_gauges(served: Served) -> dict[tuple[str, str], float]:
    """(gauge, column) -> value of the champion's live drift gauges on /metrics."""
    text = httpx.get(f"{served.url}/metrics", timeout=10).text
    values: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if line.startswith("reprokit_drift_") and f'model="{served.tag}"' in line:
            name = line.split("{", 1)[0]
            column = line.split('column="', 1)[1].split('"', 1)[0] if 'column="' in line else ""
            values[name, column] = float(line.rsplit(" ", 1)[1])
    return values


def publish_after(served: Served, records: list[dict[str, Any]]) -> None:
    """Score `records`, then one more request after the gauges' 1 s publishing interval."""
    for batch in (records, records[:1]):
        response = post(served, {"records": batch})
        assert response.status_code == 200, response.text[:500]
        time.sleep(1.1)


def drifted_records(served: Served, name: str) -> list[dict[str, Any]]:
    """5,000 rows of the demo data with its drift (income, loan amount, purpose), as records."""
    path = served.root.parent / name
    command = ["reprokit", "data", "generate", "--drift", "--rows", "5000", "--output", str(path)]
    stdout_of(command, served.root, served.env)
    return frame_to_records(pd.read_parquet(path).drop(columns=["default"]))


def test_live_drift_gauges_stay_quiet_on_training_like_data_and_alarm_on_drift(
    served: Served,
) -> None:
    publish_after(served, test_records(served))
    quiet = drift_gauges(served)
    assert quiet["reprokit_drift_window_rows", ""] >= 2000
    psi = {column: v for (name, column), v in quiet.items() if name == "reprokit_drift_psi"}
    assert {"income", "loan_amount", "purpose", "prediction"} <= set(psi)
    assert max(psi.values()) < 0.2, psi  # the test split looks like the training data
    assert not any(v for (name, _), v in quiet.items() if name == "reprokit_drift_alarm")

    drifted = drifted_records(served, "drifted.parquet")
    publish_after(served, drifted)  # the 5000-row window now holds only drifted rows
    alarms = {
        column
        for (name, column), v in drift_gauges(served).items()
        if name == "reprokit_drift_alarm" and v == 1.0
    }
    assert {"income", "loan_amount", "purpose"} <= alarms
    assert "age" not in alarms  # the drift leaves age alone
    # Logged once when the alarm is raised, not on every request after it.
    raised = [
        line
        for line in served.log.read_text().splitlines()
        if "monitoring.live_drift" in line and "cleared" not in line and "income" in line
    ]
    assert len(raised) == 1, raised


def test_a_real_prometheus_fires_the_drift_alert(served: Served, tmp_path: Path) -> None:
    """Prometheus (Debian's) scrapes this `bentoml serve` with the rules `reprokit ops
    generate` writes, after drifted traffic: the input-drift alert fires for the drifted
    columns."""
    import shutil

    from tests.support import free_port

    from reprokit.config.models import AlertsConfig
    from reprokit.ops.grafana import dashboard_json
    from reprokit.ops.prometheus import rules, scrape_config

    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus missing: `make ops-tools` installs Debian's prometheus")
        pytest.skip("prometheus not installed (`make ops-tools`)")
    publish_after(served, drifted_records(served, "drifted-for-prometheus.parquet"))
    alerts = AlertsConfig(
        targets=[served.url.removeprefix("http://")],
        # 2 s, not 1 s: the scrape timeout equals the interval, and a loaded CI machine
        # has missed 1 s scrapes of /metrics (empty short-window rates).
        scrape_interval="2s",
        evaluation_interval="1s",
        hold="0s",
        window="20s",
    )
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules(alerts, "e2e")), encoding="utf-8")
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(scrape_config(alerts)), encoding="utf-8"
    )
    port = free_port()
    server = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )
    try:
        firing: set[str] = set()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not {"income", "loan_amount"} <= firing:
            time.sleep(1)
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=5).json()
            except httpx.HTTPError:
                continue  # still starting
            firing = {
                alert["labels"]["column"]
                for alert in answer["data"]["alerts"]
                if alert["labels"]["alertname"] == "ReprokitInputDrift"
                and alert["state"] == "firing"
            }
        log = (tmp_path / "prometheus.log").read_text()[-2000:]
        assert {"income", "loan_amount"} <= firing, (firing, log)
        assert "age" not in firing
        # Every panel of the generated Grafana dashboard shows data from this service.
        board = json.loads(dashboard_json(alerts, "e2e"))
        queries = {t["expr"]: p["title"] for p in board["panels"] for t in p["targets"]}
        empty = panels_without_data(port, queries, deadline=time.monotonic() + 60)
        assert not empty, (empty, scrape_health(port))
    finally:
        server.terminate()
        server.wait(10)


def prometheus_query(port: int, expr: str) -> list[object]:
    answer = httpx.get(
        f"http://127.0.0.1:{port}/api/v1/query", params={"query": expr}, timeout=5
    ).json()
    assert answer["status"] == "success", (expr, answer)
    return list(answer["data"]["result"])


def panels_without_data(port: int, queries: dict[str, str], deadline: float) -> dict[str, str]:
    """The dashboard queries (expr -> panel title) still empty at `deadline`. Polled rather
    than asked once: on a loaded machine a scrape can miss its timeout, and a rate over a
    short window is empty until two scrapes in a row have succeeded again."""
    empty = dict(queries)
    while empty and time.monotonic() < deadline:
        empty = {expr: title for expr, title in empty.items() if not prometheus_query(port, expr)}
        if empty:
            time.sleep(1)
    return empty


def scrape_health(port: int) -> list[dict[str, object]]:
    """Each target's health and last scrape error, for a failure message."""
    targets = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5).json()
    return [
        {key: target.get(key) for key in ("scrapeUrl", "health", "lastError", "lastScrapeDuration")}
        for target in targets["data"]["activeTargets"]
    ]


def test_auth(served: Served) -> None:
    body = {"records": test_records(served, 1)}
    assert post(served, body, key=None).status_code == 401
    assert post(served, body, key="wrong").status_code == 401
    assert post(served, body).status_code == 200


def from_address(served: Served, address: str) -> httpx.Client:
    """A client whose requests come from `address` (another loopback address): failed API
    keys are throttled per client address, and the other tests' address stays unthrottled."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=served.url, transport=transport, timeout=30)


def test_failed_api_keys_are_throttled_per_address(served: Served) -> None:
    body = json.dumps({"records": test_records(served, 1)})
    json_type = {"Content-Type": "application/json"}
    good = {**json_type, "Authorization": f"Bearer {API_KEY}"}
    with from_address(served, "127.0.0.3") as client:
        guesses = [
            client.post(
                "/predict",
                content=body,
                headers={**json_type, "Authorization": f"Bearer guess-{n}"},
            ).status_code
            for n in range(AUTH_FAILURE_BURST + 1)
        ]
        assert guesses == [401] * AUTH_FAILURE_BURST + [429]
        throttled = client.post("/predict", content=body, headers=good)  # key not checked
        assert throttled.status_code == 429
        assert post(served, json.loads(body)).status_code == 200  # another address
        time.sleep(int(throttled.headers["retry-after"]))
        assert client.post("/predict", content=body, headers=good).status_code == 200


def _broken(served: Served, field: str, value: Any) -> dict[str, Any]:
    records = test_records(served, 3)
    if value is KeyError:
        del records[1][field]
    else:
        records[1][field] = value
    return {"records": records}


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("income", KeyError, "required"),
        ("age", "forty", "dtype"),
        ("purpose", 7, "dtype"),
        ("favourite_colour", "blue", "unexpected_field"),
        ("loan_amount", None, "not_nullable"),
        ("loan_term_months", 13, "isin"),
        # Were 500s (an uncaught OutOfBoundsDatetime): valid dates datetime64[ns] cannot hold.
        ("application_date", "0000-01-01T00:00:00", "dtype"),
        ("application_date", "1500-06-01", "dtype"),
        ("application_date", "2300-01-01", "dtype"),
        ("application_date", "9999-12-31T23:59:59", "dtype"),
        # Were scored: not strict ISO 8601, and JSON's non-standard NaN/Infinity literals.
        ("application_date", "now", "dtype"),
        ("application_date", "01-03-2024", "dtype"),
        ("loan_amount", float("nan"), "dtype"),
        ("income", float("inf"), "dtype"),
    ],
)
def test_schema_violations_are_422_with_field_rule_rows(
    served: Served, field: str, value: Any, rule: str
) -> None:
    response = post(served, _broken(served, field, value))
    assert response.status_code == 422, response.text
    violations = response.json()["violations"]
    assert {"field": field, "rule": rule, "rows": [1]}.items() <= {
        key: violations[0][key] for key in ("field", "rule", "rows")
    }.items()


def test_a_number_past_the_float64_range_is_refused_not_scored_as_infinity(
    served: Served,
) -> None:
    body = json.dumps(_broken(served, "loan_amount", "__huge__")).replace('"__huge__"', "1e309")
    response = post(served, None, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    (violation,) = response.json()["violations"]
    assert (violation["field"], violation["rows"]) == ("loan_amount", [1])
    assert "finite" in violation["message"]


def test_a_422_stays_small_whatever_the_number_of_violations(served: Served) -> None:
    record = test_records(served, 1)[0]
    record.update({f"unknown_{i}": 0 for i in range(60_000)})
    response = post(served, {"records": [record]})
    assert response.status_code == 422
    body = response.json()
    assert body["violation_count"] == 60_000 and len(body["violations"]) == 100
    assert "first 100 of 60000" in body["truncated"]
    print(f"422 for 60,000 unknown fields: {len(response.content)} bytes")
    assert len(response.content) < 50_000  # uncapped: ~130 bytes per violation


def test_bodies_bentoml_refuses_leave_no_payload_in_the_log(served: Served) -> None:
    # Broken JSON and a wrong `records` type are BentoML's 400; an unknown top-level field is
    # refused before BentoML parses the body (reprokit.serving.json_body), without its value.
    refused = [
        (b'{"records": [{"secret_marker": 1}', 400),
        (b'{"rows": ["secret_marker"]}', 422),
        (b'{"records": "secret_marker"}', 400),
    ]
    for number, (body, status) in enumerate(refused):
        request_id = f"refused-{number}"
        response = post(
            served,
            None,
            content=body,
            headers={"Content-Type": "application/json", "X-Request-ID": request_id},
        )
        assert response.status_code == status, response.text
        assert "secret_marker" not in response.text
        assert access_log_lines(served.log, request_id)
    log = served.log.read_text()
    assert "secret_marker" not in log and "input_value" not in log
    assert "request body refused (1 validation errors: json_invalid)" in log


def test_metrics_stay_bounded_whatever_paths_are_requested(served: Served) -> None:
    """BentoML labelled its request metrics by the raw path: 3,000 random paths grew
    /metrics from 51 KB to 12.6 MB. Unmatched paths now share one label."""
    before = httpx.get(f"{served.url}/metrics", timeout=10).text
    statuses: set[int] = set()
    with from_address(served, "127.0.0.2") as client:
        for number in range(2_000):
            # Half without a key (401, then 429 once the address is throttled), half with
            # one (404, then 429).
            key = {"Authorization": f"Bearer {BURST_KEY}"} if number % 2 else {}
            path = f"/probe-{number}-{os.urandom(4).hex()}"
            statuses.add(client.get(path, headers=key).status_code)
    after = httpx.get(f"{served.url}/metrics", timeout=10).text
    assert {401, 404} <= statuses
    print(f"/metrics: {len(before)} -> {len(after)} bytes after 2,000 random paths")
    assert len(after) - len(before) < 20_000
    assert "probe-" not in after
    assert 'endpoint="/{unmatched}"' in after and 'endpoint="/predict"' in after


def test_empty_records_is_422(served: Served) -> None:
    response = post(served, {"records": []})
    assert response.status_code == 422
    assert response.json()["violations"][0]["rule"] == "min_records"


def test_malformed_json_and_wrong_content_type_are_4xx(served: Served) -> None:
    malformed = post(
        served, None, content=b'{"records": [', headers={"Content-Type": "application/json"}
    )
    assert 400 <= malformed.status_code < 500
    text = post(served, None, content=b'{"records": []}', headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    not_records = post(served, {"rows": []})
    assert 400 <= not_records.status_code < 500


def test_duplicate_keys_and_unknown_top_level_fields_are_refused(served: Served) -> None:
    record = json.dumps(test_records(served, 1)[0])
    duplicated = record[:-1] + ', "' + next(iter(json.loads(record))) + '": null}'
    headers = {"Content-Type": "application/json"}
    twice = post(served, None, content=f'{{"records": [{duplicated}]}}'.encode(), headers=headers)
    assert twice.status_code == 400
    assert twice.json()["violations"][0]["rule"] == "duplicate_key"
    extra = post(
        served, None, content=f'{{"records": [{record}], "x": 1}}'.encode(), headers=headers
    )
    assert extra.status_code == 422
    assert extra.json()["violations"][0]["field"] == "x"


def test_oversize_body_is_413(served: Served) -> None:
    record = test_records(served, 1)[0]
    body = {"records": [record] * (MAX_BODY_BYTES // 300 + 100)}
    assert len(json.dumps(body)) > MAX_BODY_BYTES
    assert post(served, body).status_code == 413


def test_a_huge_header_is_431_while_other_callers_are_served(served: Served) -> None:
    """Before: a 50 MB header took 7.7 s to refuse and stalled every other request as long."""
    import socket
    import threading

    port = int(served.url.rsplit(":", 1)[1])
    answers: list[bytes] = []

    def send_huge_header() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            try:
                conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Big: ")
                for _ in range(200):  # up to 20 MB, in 100 KB pieces
                    conn.sendall(b"a" * 100_000)
            except (BrokenPipeError, ConnectionResetError):
                pass
            answers.append(conn.recv(4096))

    attacker = threading.Thread(target=send_huge_header)
    attacker.start()
    latencies = []
    while attacker.is_alive():
        started = time.monotonic()
        assert httpx.get(f"{served.url}/readyz", timeout=30).status_code == 200
        latencies.append(time.monotonic() - started)
    attacker.join()
    assert answers and answers[0].startswith(b"HTTP/1.1 431 "), answers
    # A functional bound (before: every caller waited seconds), not a benchmark.
    assert max(latencies, default=0.0) < 1.0, latencies


def test_a_body_that_stops_arriving_is_408_not_a_60_s_wait(served: Served) -> None:
    import socket

    port = int(served.url.rsplit(":", 1)[1])
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {API_KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode() + b'{"records": [')  # then nothing more
        started = time.monotonic()
        answer = sock.recv(65536)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert waited < BODY_TIMEOUT_S + 5


def test_rate_limit_is_429_with_retry_after(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        headers = {"Authorization": f"Bearer {BURST_KEY}", "Content-Type": "application/json"}
        for _ in range(BURST * 2):
            response = client.post("/predict", content=b'{"records": []}', headers=headers)
            if response.status_code == 429:
                break
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1
    # Another key keeps its own bucket.
    assert post(served, {"records": []}).status_code == 422


def test_health_and_metrics_need_no_key(served: Served) -> None:
    for path in ("/livez", "/readyz", "/metrics"):
        assert httpx.get(f"{served.url}{path}", timeout=10).status_code == 200
    assert httpx.get(f"{served.url}/docs.json", timeout=10).status_code == 401


def test_access_log_lines_are_json_without_payload(served: Served) -> None:
    post(served, {"records": [{"secret_marker": 1}]}, headers={"X-Request-ID": "trace-me-42"})
    mine = access_log_lines(served.log, "trace-me-42")
    assert mine and mine[0]["outcome"] == "invalid_request" and mine[0]["model_version"] == "1"
    assert "secret_marker" not in served.log.read_text()
    assert API_KEY not in served.log.read_text()


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (
            {
                "REPROKIT_AUTH": "maybe",
                "REPROKIT_RATE_LIMIT_RPS": "abc",
                "REPROKIT_MAX_RECORDS": "lots",
                "REPROKIT_LOG_FORMAT": "xml",
                "REPROKIT_WORKERS": "0",
            },
            [
                "REPROKIT_AUTH='maybe': Input should be 'required' or 'off'",
                "REPROKIT_RATE_LIMIT_RPS='abc': Input should be a valid number",
                "REPROKIT_MAX_RECORDS='lots': Input should be a valid integer",
                "REPROKIT_LOG_FORMAT='xml': Input should be 'console' or 'json'",
                "REPROKIT_WORKERS='0': Value error, expected a positive integer or `auto`",
            ],
        ),
        (
            {"REPROKIT_CHALLENGER_FRACTION": "1.5"},
            ["REPROKIT_CHALLENGER_FRACTION (serving.challenger.fraction)='1.5': Input should"],
        ),
    ],
)
def test_a_bad_setting_stops_start_up_naming_the_variable(
    served: Served, bad: dict[str, str], expected: list[str]
) -> None:
    """Before: the server came up and answered 500 on every path, /livez and /readyz too."""
    process = subprocess.Popen(
        ["bentoml", "serve", "--host", "127.0.0.1", "--port", str(free_port())],
        cwd=served.root,
        env={**served.env, **bad},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a server that does come up is ended with its workers
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    finally:
        stop_group(process)
    assert process.returncode == 2, stdout[-2000:] + stderr[-2000:]
    for text in expected:
        assert text in stderr
    assert "Traceback" not in stdout + stderr


def _path_without_uv(path: str) -> str:
    """PATH minus every folder holding a `uv`: a fresh machine has none installed globally."""
    return os.pathsep.join(d for d in path.split(os.pathsep) if d and not (Path(d) / "uv").exists())


def test_bentoml_build_makes_a_bento_with_the_model(served: Served) -> None:
    # No uv on PATH, as on a fresh machine: BentoML must find the venv's own uv package.
    env = {**served.env, "PATH": _path_without_uv(served.env["PATH"])}
    stdout_of([str(Path(VENV_BIN) / "bentoml"), "build"], served.root, env)
    bentos = list((Path(served.env["BENTOML_HOME"]) / "bentos" / "reprokit").glob("*/bento.yaml"))
    assert len(bentos) == 1
    bento = bentos[0].parent
    assert served.tag in bentos[0].read_text()
    dockerfile = bento / "env/docker/Dockerfile"
    assert dockerfile.is_file() and "PYTHONPATH" in dockerfile.read_text()
    assert (bento / "src/src/reprokit/serving/service.py").is_file()
    assert "challenger:" in (bento / "src/params.yaml").read_text()
    requirements = (bento / "env/python/requirements.txt").read_text()
    assert "lightgbm==" in requirements and "bentoml==" in requirements


def test_batch_predict_matches_offline_and_rejects_bad_rows(served: Served) -> None:
    root = served.root
    source, target = root / "data/03_primary/test.parquet", root / "scored.parquet"
    stdout_of(
        ["reprokit", "predict", "--input", str(source), "--output", str(target)], root, served.env
    )
    scored = pd.read_parquet(target)
    state = json.loads((root / "data/04_feature/feature_state.json").read_text())
    features = pd.read_parquet(root / "data/05_model_input/test_features.parquet")
    matrix = features[state["feature_names"]].to_numpy(dtype=np.float64, na_value=np.nan)
    offline = lgb.Booster(model_file=str(root / "data/06_models/model.txt")).predict(matrix)
    assert np.array_equal(scored["probability_1"].to_numpy(), offline)
    assert scored["customer_id"].tolist() == pd.read_parquet(source)["customer_id"].tolist()
    bad = pd.read_parquet(source).head(3).assign(loan_amount=[1.0, -5.0, 2.0])
    bad.to_parquet(root / "bad.parquet")
    result = subprocess.run(
        ["reprokit", "predict", "--input", "bad.parquet", "--output", "bad_scored.csv"],
        cwd=root,
        env=served.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "loan_amount" in result.stderr and "rows [1]" in result.stderr
    assert not (root / "bad_scored.csv").exists()
