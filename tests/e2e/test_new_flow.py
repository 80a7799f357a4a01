"""`reprokit new` on a user's own files, then `reprokit run experiment=NAME` with no edit:
a messy European CSV (latin-1, `;`, decimal commas, day-first dates, yes/no target in
German) and scikit-learn's wine table written as a plain CSV (multiclass)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.datasets import load_wine
from tests.support import all_runs, copy_project, git_init, run, store_client

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("new")]

METRICS = Path("data/08_reporting/metrics.json")


def _messy_csv(path: Path, rows: int = 300) -> None:
    """`;`-separated, decimal commas, dd.mm.yyyy dates, umlauts in latin-1, CRLF."""
    rng = np.random.default_rng(3)
    lines = ["Kunde;Größe;Preis;Stadt;Datum;gekündigt"]
    for row in range(rows):
        price = rng.uniform(1, 100)
        label = "ja" if price + rng.normal(0, 20) > 50 else "nein"
        size = f"{rng.normal(170, 10):.1f}".replace(".", ",")
        date = f"{row % 28 + 1:02d}.{row % 12 + 1:02d}.2023"
        city = ("Köln", "Bonn", "Düsseldorf")[row % 3]
        lines.append(
            f"{1000 + row};{size};{price:.2f}".replace(".", ",") + f";{city};{date};{label}"
        )
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))


def _new_then_run(root: Path, name: str, source: Path, target: str) -> dict[str, object]:
    created = run(["reprokit", "new", name, "--from", str(source), "--target", target], root)
    assert f"tracked data/01_raw/{name}.csv with `dvc add`" in created.stdout
    assert created.stdout.rstrip().endswith(f"next: reprokit run experiment={name}")
    assert (root / f"data/01_raw/{name}.csv.dvc").is_file()
    trained = run(["reprokit", "run", f"experiment={name}", "serving=none"], root)
    assert "quality gate: passed" in trained.stdout
    return dict(yaml.safe_load((root / f"conf/data/{name}.yaml").read_text()))


def test_new_writes_configs_that_train_with_no_edit(
    tmp_path: Path, mlflow_db_template: Path
) -> None:
    root = copy_project(tmp_path / "project", mlflow_db_template)
    git_init(root)
    messy, wine = tmp_path / "kunden export.csv", tmp_path / "wine.csv"
    _messy_csv(messy)
    load_wine(as_frame=True).frame.to_csv(wine, index=False)

    kunden = _new_then_run(root, "kunden", messy, "gekündigt")
    assert kunden["read"] == {
        "encoding": "latin-1",
        "delimiter": ";",
        "decimal": ",",
        "true_values": ["ja"],
        "false_values": ["nein"],
        "date_columns": ["Datum"],
        "date_format": "%d.%m.%Y",
    }
    assert (kunden["task"], kunden["id_column"], kunden["timestamp_column"]) == (
        "binary",
        "Kunde",
        "Datum",
    )
    assert json.loads((root / METRICS).read_text())["roc_auc"] > 0.7

    wine_config = _new_then_run(root, "mywine", wine, "target")
    assert wine_config["task"] == "multiclass" and wine_config["id_column"] is None
    assert wine_config["schema"]["columns"]["target"] == {"dtype": "int64", "isin": [0, 1, 2]}
    assert json.loads((root / METRICS).read_text())["n_test"] == 36

    runs = all_runs(store_client(root))
    assert [tracked.data.params["data.name"] for tracked in runs] == ["kunden", "mywine"]
    assert all(tracked.info.status == "FINISHED" for tracked in runs)
