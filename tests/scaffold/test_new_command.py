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
    assert data["read"] == {
        "encoding": "utf-8",
        "delimiter": ";",
        "decimal": ",",
        "true_values": ["yes"],
        "false_values": ["no"],
    }
    assert data["schema"]["columns"]["label"] == {"dtype": "bool"}
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


def _messy(rows: int = 40) -> str:
    """Thousands dots, spaces around names and values, ja/nein, two date formats, a key
    repeated per customer."""
    lines = [" kunde ;customer;betrag;mitglied;beginn;ende;tarif;label"]
    for row in range(rows):
        amount = f"{1 + row % 9}.{row:03d},5"
        plan, member = ("basic ", " pro")[row % 2], ("ja", "nein")[row % 3 == 0]
        dates = f"{row % 28 + 1:02d}.03.2024;2024-04-{row % 28 + 1:02d}"
        lines.append(f"{row};{row % 10};{amount};{member};{dates};{plan};{row % 2}")
    return "\n".join(lines) + "\n"


def _dry_run_files(project: Path, *extra: str) -> tuple[str, str]:
    (project / "messy.csv").write_text(_messy(), encoding="utf-8")
    code, output = _new("messy", "--from", "messy.csv", "--target", "label", "--dry-run", *extra)
    assert code == 0, output
    data_text, experiment = output.split(
        "--- conf/experiment/messy.yaml (not written: --dry-run)\n"
    )
    return data_text.split("(not written: --dry-run)\n", 1)[1], experiment


def test_messy_file_gets_each_option_with_a_comment(project: Path) -> None:
    text, experiment = _dry_run_files(project)
    data = yaml.safe_load(text)
    assert data["read"] == {
        "encoding": "utf-8",
        "delimiter": ";",
        "decimal": ",",
        "thousands": ".",
        "true_values": ["ja"],
        "false_values": ["nein"],
        "date_columns": ["beginn", "ende"],
        "date_format": {"beginn": "%d.%m.%Y", "ende": "%Y-%m-%d"},
        "strip_header": True,
        "strip_values": True,
    }
    assert data["group_column"] == "customer" and data["id_column"] == "kunde"
    columns = data["schema"]["columns"]
    assert columns["mitglied"] == {"dtype": "bool"}
    assert columns["betrag"]["dtype"] == "float64" and columns["betrag"]["le"] > 9000
    assert columns["tarif"]["isin"] == ["basic", "pro"]
    comments = {
        "thousands:": "numbers grouped in thousands, like 1.234,5",
        "strip_header:": "column names with spaces around them: [' kunde ']",
        "strip_values:": "values with spaces around them (tarif: 'basic ')",
        "date_format:": "the date columns are written in different formats",
        "true_values:": "booleans spelled out in ['mitglied']",
        "mitglied:": "ja / nein in the file: read as booleans",
        "group_column:": "proposed: a repeated key named like one",
    }
    for key, comment in comments.items():
        line = next(line for line in text.splitlines() if line.strip().startswith(key))
        assert f"# {comment}" in line, line
    assert "  - override /split: group  # each customer lands in one of" in experiment


def test_without_a_group_split_option_the_split_is_proposed_as_a_comment(project: Path) -> None:
    (project / "conf/split/group.yaml").unlink()
    _, experiment = _dry_run_files(project)
    assert "\n  # - override /split: group\n" in experiment
    assert "\n  - override /split" not in experiment
