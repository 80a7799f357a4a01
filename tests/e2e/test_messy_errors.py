"""Each messy-file error class on every entry point: `reprokit run`, the DVC `prepare`
stage (`dvc repro`), `reprokit predict` and `reprokit monitor` read one generated bad file
and answer with exit code 1 or 2 and one message naming the file, column or option; never
a Python traceback.

One project, set up by `reprokit new` on a clean CSV, trained and packaged once; each case
then puts its bad file where the entry point reads it. Real reprokit, DVC, MLflow (the
copy's SQLite store) and BentoML (the copy's own store).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support import copy_project, git_init, run

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("messy_errors")]

NAME = "plain"
RAW = Path(f"data/01_raw/{NAME}.csv")
HEADER = "id,amount,plan,member,y"


def _rows(count: int = 120) -> list[str]:
    plans = ("basic", "pro", "team")
    return [
        f"{row},{10 + row * 1.5:.2f},{plans[row % 3]},{('yes', 'no')[row % 2]},{row % 3 % 2}"
        for row in range(count)
    ]


CLEAN = "\n".join([HEADER, *_rows()]) + "\n"


def _without_column(line: str, position: int) -> str:
    fields = line.split(",")
    return ",".join(fields[:position] + fields[position + 1 :])


@dataclass(frozen=True)
class Case:
    """A bad file's bytes and the words its error must contain (`{file}`: the file's
    name; `a|b`: either)."""

    content: Callable[[], bytes]
    expected: tuple[str, ...]


def _replace(old: str, new: str) -> Callable[[], bytes]:
    return lambda: CLEAN.replace(old, new, 1).encode("utf-8")


CASES = {
    "latin-1": Case(
        lambda: CLEAN.replace("team", "Töam", 1).encode("latin-1"),
        ("{file} is not utf-8 text", "set data.read.encoding: latin-1"),
    ),
    "one-huge-line": Case(lambda: b"id,amount" + b",x" * (600 * 1024), ("{file}", "no line break")),
    "duplicate-header": Case(
        _replace(HEADER, "id,amount,plan,plan,y"),
        ("{file} has duplicate column names", "'plan' (columns 3, 4)"),
    ),
    "ragged-row": Case(_replace("\n3,", "\n3,extra,"), ("{file}", "data.read.delimiter")),
    "empty": Case(lambda: b"", ("{file} is empty",)),
    "bool-spelling": Case(_replace(",yes,", ",maybe,"), ("member", "maybe")),
    "non-finite": Case(_replace(",10.00,", ",inf,"), ("amount", "finite")),
    "missing-column": Case(
        lambda: "".join(_without_column(line, 2) for line in CLEAN.splitlines(True)).encode(),
        ("plan", "missing|required"),
    ),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.mlflow_store import migrated_mlflow_db

    base = tmp_path_factory.mktemp("messy_errors")
    root = copy_project(base / "project", migrated_mlflow_db(base / "mlflow.db"))
    git_init(root)
    (base / "plain.csv").write_text(CLEAN, encoding="utf-8")
    run(["reprokit", "new", NAME, "--from", str(base / "plain.csv"), "--target", "y"], root)
    config = root / "conf/config.yaml"
    config.write_text(config.read_text().replace("- experiment: null", f"- experiment: {NAME}"))
    run(["reprokit", "config", "compose"], root)
    run(["reprokit", "dvc", "generate"], root)
    run(["reprokit", "run"], root)
    run(["reprokit", "package"], root)
    return root


def _entry_point(root: Path, entry: str, path: Path) -> list[str]:
    """The command of `entry` reading the bad file now at `path`."""
    if entry == "run":
        return ["reprokit", "run"]
    if entry == "dvc":
        return ["dvc", "repro", "prepare"]
    if entry == "predict":
        return ["reprokit", "predict", "--input", str(path), "--output", "scored.csv"]
    return ["reprokit", "monitor", "--current", str(path)]


@pytest.mark.parametrize("entry", ["run", "dvc", "predict", "monitor"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_messy_file_is_one_clean_error_on_every_entry_point(
    project: Path, entry: str, case: str
) -> None:
    clean = project / RAW
    kept = clean.read_bytes()
    # run and dvc read the raw file; predict and monitor a batch of the user's.
    path = clean if entry in {"run", "dvc"} else project / "batch.csv"
    path.write_bytes(CASES[case].content())
    try:
        result = run(_entry_point(project, entry, path), project, check=False)
    finally:
        clean.write_bytes(kept)
    output = result.stdout + result.stderr
    if entry == "dvc":  # DVC exits 255 for any failed stage: the stage's own code counts
        assert re.search(r"reprokit stage prepare, exited with [12]\n", output), output
    else:
        assert result.returncode in {1, 2}, output
    for expected in CASES[case].expected:
        alternatives = expected.format(file=path.name).split("|")
        assert any(alternative in output for alternative in alternatives), output
    assert "Traceback" not in output, output
    shutil.rmtree(project / "data/08_reporting/monitoring", ignore_errors=True)
