"""End to end against one real `bentoml serve`: the request timeout stops its work, and the
service keeps to its typed OpenAPI document under schemathesis (every check).

The server has its own settings: no rate limit and no failed-auth throttle (the fuzzer's
volume and its unauthenticated probes would otherwise meet them, answered correctly but
uninformative), a 1 s request timeout, and room for one large request.
"""

from __future__ import annotations

import collections
import datetime
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.serving import bentoml_server, packaged_project, predict, split_records

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]

KEY = "contract-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
TIMEOUT_S = 1.0
# About 66 MB: its work takes seconds even on a quiet machine (60,000 rows fitted in the
# 1 s timeout once, answering 200), well past TIMEOUT_S.
BIG_REQUEST_ROWS = 200_000
SETTINGS = {
    "REPROKIT_API_KEYS": KEY,
    "REPROKIT_RATE_LIMIT_RPS": "0",
    "REPROKIT_AUTH_FAILURES_RPS": "0",
    "REPROKIT_REQUEST_TIMEOUT_S": str(TIMEOUT_S),
    "REPROKIT_MAX_RECORDS": str(BIG_REQUEST_ROWS),
    "REPROKIT_MAX_BODY_BYTES": str(256 * 1024 * 1024),
    "REPROKIT_LOG_FORMAT": "json",
}
EXAMPLES = 60  # per /predict generation mode: the whole run stays well under a minute


@dataclass(frozen=True)
class Served:
    root: Path
    url: str
    log: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, trained_template: Path) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("contract")
    packaged = packaged_project(base, trained_template, SETTINGS)
    log = base / "serve.log"
    with bentoml_server(packaged.root, packaged.env, log) as url:
        yield Served(root=packaged.root, url=url, log=log)


# --- the request timeout -------------------------------------------------------------------------


def _server_processes(url: str) -> list[Any]:
    """`bentoml serve` on this URL's port and every process under it (its workers)."""
    import psutil  # type: ignore[import-untyped]  # BentoML's dependency

    port = url.rsplit(":", 1)[1]
    found = []
    for process in psutil.process_iter(["cmdline"]):
        argv = process.info["cmdline"] or []
        if "serve" in argv and port in argv:
            found += [process, *process.children(recursive=True)]
    assert found, f"no process serving port {port}"
    return found


def _cpu_seconds(processes: list[Any]) -> float:
    return sum(sum(process.cpu_times()[:2]) for process in processes)


def _work_stopped_events(log: Path, within_s: float) -> list[dict[str, Any]]:
    """The server log's `serving.work_stopped` events, waiting up to `within_s` for one."""
    deadline = time.monotonic() + within_s
    while True:
        events = [
            json.loads(line)
            for line in log.read_text().splitlines()
            if '"event":"serving.work_stopped"' in line
        ]
        if events or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def test_a_504_stops_its_work(served: Served) -> None:
    """Before: the 504 replaced the response, but the worker thread ran the whole request on
    (it cannot be interrupted), burning the CPU the next requests needed."""
    assert predict(served.url, {"records": split_records(served.root, 1)}, KEY).status_code == 200
    split = split_records(served.root)  # repeated, with distinct ids (a unique field)
    records = [{**split[row % len(split)], "customer_id": row} for row in range(BIG_REQUEST_ROWS)]
    answer = predict(served.url, {"records": records}, KEY)
    # A 504 at all means the work did not finish (a finished one answers 200); how long it
    # took is not asserted: the body's upload and its JSON parses come first and are not
    # interruptible, and took 13 s on a loaded machine.
    assert answer.status_code == 504, answer.text[:500]
    assert answer.json() == {"error": f"no response within {TIMEOUT_S:g} s"}
    # The work stops at its next stage boundary, which a slow machine reaches later (0.48 s
    # of CPU in the 2 s after the 504 on a CPU ~2.7x slower than the usual one): wait for
    # the server to say it stopped, then it must be idle.
    stopped = _work_stopped_events(served.log, within_s=30.0)
    processes = _server_processes(served.url)
    before = _cpu_seconds(processes)
    time.sleep(2)
    idle = _cpu_seconds(processes) - before
    assert idle < 0.3, f"the server used {idle:.2f} s of CPU in the 2 s after it stopped"
    # Where depends on the machine's speed (on a loaded one the body is still being decoded
    # at the 504: "start"); that it stopped before the end does not.
    stages = {"start", "validation", "fields", "columns", "schema", "features", "predict"}
    assert stopped and stopped[-1]["stage"] in stages, stopped
    small = predict(served.url, {"records": split_records(served.root, 1)}, KEY)
    assert small.status_code == 200, small.text[:500]


# --- the typed OpenAPI document under schemathesis --------------------------------------------


def _unique_fields(document: dict[str, Any]) -> list[str]:
    record = document["components"]["schemas"]["Record"]["properties"]
    return [name for name, field in record.items() if field.get("x-reprokit-unique")]


def _same_lengths(case: Any) -> Any:
    """A columnar body cut to its shortest column: that every column holds one value per
    row is the other rule JSON Schema cannot state (`x-reprokit-same-length`)."""
    columns = case.body.get("columns") if isinstance(case.body, dict) else None
    if isinstance(columns, dict) and columns:
        rows = min(len(values) for values in columns.values())
        for name, values in columns.items():
            columns[name] = values[:rows]
    return case


def _records_of(body: Any) -> Any:
    """The records a body sends, whether as records or as columns."""
    if not isinstance(body, dict):
        return None
    columns = body.get("columns")
    if isinstance(columns, dict) and all(isinstance(values, list) for values in columns.values()):
        rows = zip(*columns.values(), strict=False)  # equal lengths after `_same_lengths`
        return [dict(zip(columns, row, strict=True)) for row in rows]
    return body.get("records")


def _distinct(body: Any, fields: list[str]) -> bool:
    """The records' values of each unique field differ: the one rule of the request schema
    JSON Schema cannot state (the document says it in the field's description)."""
    records = _records_of(body)
    if not isinstance(records, list):
        return True
    for name in fields:
        values = [json.dumps(r.get(name)) for r in records if isinstance(r, dict)]
        if len(values) != len(set(values)):
            return False
    return True


@dataclass
class Fuzzer:
    """Calls generated cases with every schemathesis check; collects failures and statuses."""

    url: str
    checks: list[Any]
    failures: list[str] = field(default_factory=list)
    statuses: collections.Counter[tuple[str, str, int]] = field(default_factory=collections.Counter)

    def call(self, case: Any, label: str) -> Any:
        try:
            response = case.call_and_validate(
                base_url=self.url, headers=AUTH, checks=self.checks, timeout=30
            )
        except Exception as failure:  # schemathesis' FailureGroup: every failed check
            self.failures.append(f"{label}: {str(failure)[:3000]}")
            return None
        self.statuses[(case.path, label, response.status_code)] += 1
        return response


def _fuzz_operation(fuzzer: Fuzzer, operation: Any, unique: list[str]) -> None:
    from schemathesis.generation import GenerationMode

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        _fuzz_mode(fuzzer, operation, mode, unique)


def _fuzz_mode(fuzzer: Fuzzer, operation: Any, mode: Any, unique: list[str]) -> None:
    import hypothesis
    from hypothesis import HealthCheck, Phase
    from schemathesis.generation import GenerationMode

    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        strategy = strategy.map(_same_lengths).filter(lambda case: _distinct(case.body, unique))

    @hypothesis.settings(
        max_examples=EXAMPLES if operation.path == "/predict" else 3,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def fuzz(case: Any) -> None:
        fuzzer.call(case, mode.value)

    try:
        fuzz()
    except hypothesis.errors.Unsatisfiable:
        # An operation without inputs (GET /livez) has no invalid request to make.
        assert mode is GenerationMode.NEGATIVE, operation.path


def _fuzz_dates(fuzzer: Fuzzer, operation: Any) -> None:
    """Dates across the whole ISO 8601 year range (0001-9999) in otherwise valid records:
    200 within the documented years, else a documented 422 naming the field."""
    import hypothesis
    from hypothesis import Phase
    from hypothesis import strategies as st
    from schemathesis.generation import GenerationMode

    positive = operation.as_strategy(generation_mode=GenerationMode.POSITIVE).map(_same_lengths)

    @hypothesis.settings(
        max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate]
    )
    @hypothesis.given(case=positive, day=st.dates(), at=st.sampled_from(["", "T12:30:05.5"]))
    def dates(case: Any, day: datetime.date, at: str) -> None:
        stamp = f"{day.isoformat()}{at}"
        records: list[Any] = [
            {**record, "application_date": stamp, "customer_id": row}
            for row, record in enumerate(_records_of(case.body))
        ]
        response = fuzzer.call(operation.Case(body={"records": records}), "dates")
        if response is not None:
            expected = 200 if 1678 <= day.year <= 2261 else 422
            assert response.status_code == expected, (stamp, response.text[:300])
            if expected == 422:
                assert response.json()["violations"][0]["field"] == "application_date"

    dates()


def test_the_service_keeps_to_its_typed_openapi_document(served: Served) -> None:
    """Before: /docs.json had `records: [object]` and BentoML's 400/404/500 only; a typed run
    with dates across years 0000-9999 got 4,671 x 500 of 4,682 requests."""
    import schemathesis
    from schemathesis.checks import CHECKS, load_all_checks

    document = httpx.get(f"{served.url}/docs.json", headers=AUTH, timeout=10).json()
    record = document["components"]["schemas"]["Record"]
    assert record["additionalProperties"] is False and set(record["required"]) >= {"age"}
    assert record["properties"]["age"] == {
        "type": "number",
        "format": "double",
        "minimum": 18.0,
        "maximum": 120.0,
        "nullable": True,
        "title": "age",
    }
    assert record["properties"]["loan_term_months"]["enum"] == [12, 24, 36, 48, 60]
    responses = document["paths"]["/predict"]["post"]["responses"]
    assert set(responses) == {"200", "400", "401", "408", "413", "415", "422", "429", "431", "504"}

    load_all_checks()
    fuzzer = Fuzzer(served.url, CHECKS.get_all())  # every check schemathesis has
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    for operation in operations:
        _fuzz_operation(fuzzer, operation, _unique_fields(document))
    (predict_operation,) = (op for op in operations if op.path == "/predict")
    _fuzz_dates(fuzzer, predict_operation)

    assert not fuzzer.failures, "\n\n".join(fuzzer.failures[:5])
    statuses = fuzzer.statuses
    assert sum(statuses.values()) > 150, statuses
    assert not [key for key in statuses if key[2] >= 500], statuses
    for status in (200, 422):
        assert statuses[("/predict", "dates", status)] > 0, statuses
