"""A real `bentoml serve` answers `{"entities": [...]}` from the online store with exactly the
predictions of the full records of the same rows; an unknown id is a 422 naming the key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.support.serving import bentoml_server, packaged_project, predict, split_records

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]


@dataclass(frozen=True)
class Served:
    root: Path
    url: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("entities")
    packaged = packaged_project(
        base, mlflow_db_template, then=[["reprokit", "features", "materialize"]]
    )
    with bentoml_server(packaged.root, packaged.env, base / "serve.log") as url:
        yield Served(root=packaged.root, url=url)


def test_entity_requests_predict_exactly_as_full_records(served: Served) -> None:
    records = split_records(served.root, 200)
    full = predict(served.url, {"records": records})
    by_id = predict(served.url, {"entities": [{"customer_id": r["customer_id"]} for r in records]})
    assert full.status_code == by_id.status_code == 200, by_id.text
    assert (full.json()["input"], by_id.json()["input"]) == ("records", "entities")
    assert by_id.json()["predictions"] == full.json()["predictions"]
    # Feast imported in the service leaves its own metrics working.
    metrics = httpx.get(f"{served.url}/metrics", timeout=10).text
    assert "reprokit_requests_total{" in metrics


def test_unknown_or_malformed_entities_are_422_naming_the_key(served: Served) -> None:
    known = split_records(served.root, 1)[0]["customer_id"]
    unknown = predict(served.url, {"entities": [{"customer_id": known}, {"customer_id": -7}]})
    assert unknown.status_code == 422
    (violation,) = unknown.json()["violations"]
    assert (violation["field"], violation["rule"], violation["rows"]) == (
        "customer_id",
        "unknown_entity",
        [1],
    )
    assert "-7" in violation["message"]
    wrong_key = predict(served.url, {"entities": [{"id": known}]})
    assert wrong_key.status_code == 422
    assert wrong_key.json()["violations"][0]["rule"] == "entity_key"
    both = predict(served.url, {"records": split_records(served.root, 1), "entities": []})
    assert both.status_code == 422
