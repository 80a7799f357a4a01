"""One messy CSV (latin-1, `;` with decimal commas and thousands dots, day-first dates,
ja/nein booleans, padded header and values, categories differing by case, CRLF) read with
the same `data.read` options by `reprokit run`, the DVC stage (`dvc repro`) and `reprokit
predict`; without the encoding option the run fails naming the file and the option.

Real reprokit, DVC, MLflow (the copy's SQLite store) and BentoML (the copy's own store).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.support import copy_project, file_md5, git_init, run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("read_options")]

RAW = "data/01_raw/messy.csv"
PRIMARY = "data/02_intermediate/primary.parquet"
DATA_CONFIG = """\
name: messy
task: binary
target: churned
id_column: customer_id
timestamp_column: signup
group_column: null
path: data/01_raw/messy.csv
source: {kind: file}
read:
  encoding: latin-1
  delimiter: ";"
  decimal: ","
  thousands: "."
  true_values: [ja]
  false_values: [nein]
  date_columns: [signup]
  date_format: "%d.%m.%Y"
  strip_header: true
  strip_values: true
  lowercase_values: true
  rename: {Kunde: customer_id}
schema:
  strict: true
  columns:
    customer_id: {dtype: int64, unique: true}
    signup: {dtype: "datetime64[ns]", coerce: true}
    income: {dtype: float64, gt: 0}
    plan: {dtype: str, isin: [basic, pro]}
    city: {dtype: str}
    member: {dtype: bool}
    churned: {dtype: int64, isin: [0, 1]}
"""


def messy_lines(rows: int, seed: int, with_target: bool = True) -> list[str]:
    """The table in the messy dialect, one string per line (header first)."""
    rng = np.random.default_rng(seed)
    header = [" Kunde ", " signup", "income ", "plan", "city", "member"]
    lines = [";".join([*header, "churned"] if with_target else header)]
    for row in range(rows):
        income = float(rng.integers(800, 9000)) + 0.25
        day, month = int(rng.integers(1, 29)), int(rng.integers(1, 13))
        plan = str(rng.choice(["basic", "Basic ", " PRO", "pro"]))
        city = str(rng.choice(["Köln", "Zürich", "Graz"]))
        member = str(rng.choice(["ja", "nein"]))
        amount = f"{income:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
        fields = [str(row + 1), f"{day:02d}.{month:02d}.2023", amount, plan, city, member]
        churned = int(income < 4000)
        lines.append(";".join([*fields, str(churned)] if with_target else fields))
    return lines


def write_messy(path: Path, lines: list[str]) -> None:
    path.write_bytes("\r\n".join(lines).encode("latin-1") + b"\r\n")


@pytest.fixture
def project(tmp_path: Path, mlflow_db_template: Path) -> Path:
    root = copy_project(tmp_path / "project", mlflow_db_template)
    (root / "conf/data/messy.yaml").write_text(DATA_CONFIG)
    config = (root / "conf/config.yaml").read_text()
    config = config.replace("- data: credit", "- data: messy")
    (root / "conf/config.yaml").write_text(config.replace("- features: credit", "- features: auto"))
    write_messy(root / RAW, messy_lines(400, seed=1))
    run(["reprokit", "config", "compose"], root)
    run(["reprokit", "dvc", "generate"], root)
    git_init(root)
    return root


def test_run_dvc_stage_and_predict_read_the_messy_file_alike(project: Path) -> None:
    # Without the encoding option: a clean error naming the file and the fix.
    failed = run(["reprokit", "run", "data.read.encoding=utf-8"], project, check=False)
    assert failed.returncode == 1
    assert "messy.csv is not utf-8 text" in failed.stderr
    assert "set data.read.encoding: latin-1" in failed.stderr
    assert "Traceback" not in failed.stderr

    run(["reprokit", "run"], project)
    primary = pd.read_parquet(project / PRIMARY)
    assert len(primary) == 400 and primary["customer_id"].is_unique
    assert set(primary["plan"]) == {"basic", "pro"}
    assert set(primary["city"]) == {"köln", "zürich", "graz"}
    assert primary["member"].dtype == bool and primary["member"].nunique() == 2
    assert primary["income"].min() > 800 and (primary["income"] % 1 == 0.25).all()
    assert primary["signup"].dt.year.eq(2023).all() and primary["signup"].dt.day.max() > 12
    by_run = file_md5(project / PRIMARY)

    (project / PRIMARY).unlink()
    run(["dvc", "repro", "prepare"], project)
    assert file_md5(project / PRIMARY) == by_run

    tag = run(["reprokit", "package"], project).stdout.strip().split()[-1]
    write_messy(project / "new.csv", messy_lines(25, seed=2, with_target=False))
    scored = run(["reprokit", "predict", "--input", "new.csv", "--output", "scored.csv"], project)
    assert f"wrote 25 predictions to scored.csv (model {tag})" in scored.stdout
    predictions = pd.read_csv(project / "scored.csv")
    assert predictions["customer_id"].tolist() == list(range(1, 26))
    assert predictions["probability_1"].between(0, 1).all()
