"""`reprokit new`'s command line: --dry-run writes nothing, existing configs are kept
without --force, and user mistakes are one clean error line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from reprokit.cli import main

CSV = "id;amount;plan;label\n1;1,5;basic;yes\n2;2,5;premium;no\n3;3,0;basic;yes\n4;4,5;basic;no\n"


@pytest.fixture
def project(project_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(project_copy)
    (project_copy / "in.csv").write_bytes(CSV.encode("latin-1"))
    return project_copy


def _new(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["new", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.exit_code, result.output


def test_dry_run_prints_the_configs_and_writes_nothing(project: Path) -> None:
    before = sorted(path for path in project.rglob("*") if ".git" not in path.parts)
    code, output = _new("loans", "--from", "in.csv", "--target", "label", "--dry-run")
    assert code == 0, output
    assert sorted(path for path in project.rglob("*") if ".git" not in path.parts) == before
    data_text = output.split("--- conf/data/loans.yaml (not written: --dry-run)\n")[1]
    data = yaml.safe_load(data_text.split("--- conf/experiment/")[0])
    assert data["task"] == "binary" and data["id_column"] == "id"
    assert data["read"] == {"encoding": "utf-8", "delimiter": ";", "decimal": ","}
    assert data["schema"]["columns"]["label"] == {"dtype": "str", "isin": ["no", "yes"]}
    assert "would copy in.csv to data/01_raw/loans.csv" in output


def test_existing_configs_are_kept_without_force(project: Path) -> None:
    kept = project / "conf/data/wine.yaml"
    before = kept.read_text()
    code, output = _new("wine", "--from", "in.csv", "--target", "label", "--dry-run")
    assert code != 0
    assert "conf/data/wine.yaml, conf/experiment/wine.yaml already exist" in output
    assert "--force" in output and kept.read_text() == before
    forced = _new("wine", "--from", "in.csv", "--target", "label", "--dry-run", "--force")
    assert forced[0] == 0
    # Another file already at data/01_raw/NAME.csv is not replaced either.
    (project / "data/01_raw/loans.csv").write_text("other\n1\n")
    code, output = _new("loans", "--from", "in.csv", "--target", "label")
    assert code != 0 and "data/01_raw/loans.csv already exist(s)" in output
    assert (project / "data/01_raw/loans.csv").read_text() == "other\n1\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "missing.csv", "--target", "label"], "--from missing.csv: no such file"),
        (["--from", "in.csv", "--target", "lable"], "did you mean 'label'?"),
        (["--from", "in.txt", "--target", "label"], "expected a .csv or .parquet file"),
        (["--from", "bad.parquet", "--target", "label"], "cannot be read as Parquet"),
    ],
)
def test_mistakes_are_one_clean_error(project: Path, args: list[str], message: str) -> None:
    (project / "in.txt").write_text(CSV)
    (project / "bad.parquet").write_bytes(b"PAR1 truncated")
    code, output = _new("loans", *args)
    assert code != 0 and output.startswith("error: ") and message in output
    assert "Traceback" not in output
    assert not (project / "conf/data/loans.yaml").exists()


def test_a_name_that_cannot_name_a_model_is_refused(project: Path) -> None:
    code, output = _new("My Loans", "--from", "in.csv", "--target", "label")
    assert code != 0 and "NAME 'My Loans' cannot name a dataset" in output
