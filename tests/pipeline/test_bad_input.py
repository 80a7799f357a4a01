"""Every bad input fails cleanly: a message naming dataset/column/count, a non-zero exit,
and no downstream output written or overwritten. Runs the DVC stage command in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from reprokit.cli import main
from reprokit.config.compose import load_config
from reprokit.datagen.credit import generate_credit
from reprokit.dvcgen import render_dvc_yaml

Mutation = Callable[[pd.DataFrame], pd.DataFrame]
SENTINEL = b"earlier good output"


def use_own_file(project: Path, filename: str) -> Path:
    """Point the project at a user's own raw file (source kind `file`), as the README shows."""
    params_path = project / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    raw_path = f"data/01_raw/{filename}"
    params["data"]["source"] = {"kind": "file"}
    params["data"]["path"] = raw_path
    params["catalog"]["raw"]["filepath"] = raw_path
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    (project / "dvc.yaml").write_text(render_dvc_yaml(load_config(project), project))
    return project / raw_path


def run_stage(
    project: Path, monkeypatch: pytest.MonkeyPatch, stage: str = "prepare"
) -> tuple[int, str]:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(main, ["stage", stage])
    return result.exit_code, result.output


def with_earlier_output(project: Path) -> Path:
    train = project / "data/03_primary/train.parquet"
    train.write_bytes(SENTINEL)
    return train


def drop_age(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["age"])


def add_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(surprise=1)


def age_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(age=frame["age"].astype(str).where(frame.index % 50 != 0, "forty"))


def null_loan_amounts(frame: pd.DataFrame) -> pd.DataFrame:
    amounts = frame["loan_amount"].copy()
    amounts.iloc[[3, 5, 8]] = np.nan
    return frame.assign(loan_amount=amounts)


def underage(frame: pd.DataFrame) -> pd.DataFrame:
    ages = frame["age"].copy()
    ages.iloc[[1, 2, 3, 4]] = 5.0
    return frame.assign(age=ages)


def single_class(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(default=0)


def duplicate_ids(frame: pd.DataFrame) -> pd.DataFrame:
    ids = frame["customer_id"].copy()
    ids.iloc[[10, 11]] = ids.iloc[0]
    return frame.assign(customer_id=ids)


def no_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[0:0]


CASES: dict[str, tuple[Mutation, list[str]]] = {
    "missing column": (drop_age, ["'raw'", "column 'age': missing from the data"]),
    "extra column": (add_column, ["column 'surprise': not in the schema"]),
    "wrong dtype": (age_as_text, ["column 'age'", "wrong dtype, expected float64"]),
    "nulls": (null_loan_amounts, ["column 'loan_amount': 3 bad rows, null values"]),
    "out of range": (underage, ["column 'age': 4 bad rows", "greater_than_or_equal_to(18"]),
    "single class": (single_class, ["target column 'default' has a single class"]),
    "duplicate ids": (duplicate_ids, ["column 'customer_id': 3 bad rows, duplicate values"]),
    "zero rows": (no_rows, ["dataset 'raw' is empty: 0 rows"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_bad_raw_data_fails_cleanly(
    case: str, suffix: str, project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mutate, expected = CASES[case]
    raw = use_own_file(project_copy, f"input{suffix}")
    frame = mutate(generate_credit(400, seed=3))
    if suffix == ".parquet":
        frame.to_parquet(raw, index=False)
    else:
        frame.to_csv(raw, index=False)
    earlier = with_earlier_output(project_copy)

    exit_code, output = run_stage(project_copy, monkeypatch)

    assert exit_code == 1, output
    for text in expected:
        assert text in output
    assert "Traceback" not in output
    assert earlier.read_bytes() == SENTINEL  # no earlier good output lost
    assert not (project_copy / "data/02_intermediate/primary.parquet").exists()


@pytest.mark.parametrize(
    ("filename", "content", "expected"),
    [
        ("input.csv", b"", "is empty (0 bytes)"),
        ("input.parquet", b"PAR1\x00\x01truncated", "cannot be read as Parquet"),
        ("input.csv", b'customer_id,age\n1,"unterminated\n', "cannot be parsed as CSV"),
    ],
)
def test_unreadable_files_fail_cleanly(
    filename: str,
    content: bytes,
    expected: str,
    project_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = use_own_file(project_copy, filename)
    raw.write_bytes(content)
    earlier = with_earlier_output(project_copy)
    exit_code, output = run_stage(project_copy, monkeypatch)
    assert exit_code == 1, output
    assert expected in output
    assert str(raw) in output
    assert earlier.read_bytes() == SENTINEL


def test_missing_own_file_is_named(project_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = use_own_file(project_copy, "absent.parquet")
    exit_code, output = run_stage(project_copy, monkeypatch)
    assert exit_code == 1
    assert f"{raw} does not exist" in output


def test_unknown_config_key_exits_2_naming_the_file(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    split = project_copy / "conf/split/stratified.yaml"
    split.write_text(split.read_text() + "shuffle: true\n")
    monkeypatch.chdir(project_copy)
    result = CliRunner().invoke(main, ["run"])
    assert result.exit_code == 2
    assert "unknown key `split.shuffle`" in result.output
    assert "conf/split/stratified.yaml" in result.output


def test_wrong_typed_config_value_exits_2(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project_copy)
    result = CliRunner().invoke(main, ["run", "model.n_estimators=many"])
    assert result.exit_code == 2
    assert "`model.n_estimators` (value 'many')" in result.output


def test_spec_naming_a_missing_function_exits_2_before_running(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = project_copy / "conf/pipeline/default.yaml"
    spec.write_text(
        spec.read_text().replace(
            "reprokit.nodes.split.split_frame", "reprokit.nodes.split.split_frames"
        )
    )
    monkeypatch.chdir(project_copy)
    result = CliRunner().invoke(main, ["run"])
    assert result.exit_code == 2
    assert "node 'split': module 'reprokit.nodes.split' has no function 'split_frames'" in (
        result.output
    )
    assert not (project_copy / "data/01_raw/credit.parquet").exists()
