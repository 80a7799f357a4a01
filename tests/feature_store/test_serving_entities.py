"""A real `bentoml serve` answers `{"entities": [...]}` from the online store with exactly the
predictions of the full records of the same rows (time-stamped data, and data with an id and
no timestamp column); an unknown id is a 422 naming the key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.support import copy_project, run
from tests.support.serving import (
    bentoml_env,
    bentoml_server,
    packaged_project,
    predict,
    split_records,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]


@dataclass(frozen=True)
class Served:
    root: Path
    url: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, trained_template: Path) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("entities")
    packaged = packaged_project(
        base, trained_template, then=[["reprokit", "features", "materialize"]]
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


def test_data_without_a_timestamp_serves_entities_as_full_records(
    tmp_path: Path, mlflow_db_template: Path
) -> None:
    root = copy_project(tmp_path / "project", mlflow_db_template)
    no_time = "experiment=breast_cancer"  # row_id, no timestamp column
    for args in (
        ["reprokit", "config", "compose", no_time],
        ["reprokit", "features", "generate"],
        ["reprokit", "dvc", "generate"],
        ["reprokit", "run", no_time],
        ["reprokit", "features", "materialize"],
    ):
        run(args, root)
    env = bentoml_env(root, tmp_path / "bentoml")
    run(["reprokit", "package"], root, env=env)
    with bentoml_server(root, env, tmp_path / "serve.log") as url:
        records = split_records(root, target="target")
        full = predict(url, {"records": records})
        by_id = predict(url, {"entities": [{"row_id": r["row_id"]} for r in records]})
    assert full.status_code == by_id.status_code == 200, by_id.text
    assert (full.json()["input"], by_id.json()["input"]) == ("records", "entities")
    assert len(records) > 100
    assert by_id.json()["predictions"] == full.json()["predictions"]
