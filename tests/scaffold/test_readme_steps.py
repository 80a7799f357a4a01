"""README "Your own data" as written: its shell steps, extracted from README.md (an edit
that breaks them fails here), run in a project copy on a generated messy CSV."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from tests.support import copy_project, git_init, run, tool_env
from tests.support.project import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("new")]

SECTION = "## Your own data"
_SHELL_BLOCK = re.compile(r"^```(?:sh|shell|bash)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_steps(readme: str) -> list[str]:
    """The commands of the section's fenced shell blocks, one per line, comments kept
    (bash drops them)."""
    start = readme.index(f"\n{SECTION}\n")
    end = readme.find("\n## ", start + len(SECTION) + 1)
    section = readme[start : end if end != -1 else None]
    blocks = _SHELL_BLOCK.findall(section)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def messy_csv(path: Path, rows: int = 400) -> None:
    """What the README promises `reprokit new` reads with no edit: latin-1, `;`, decimal
    commas with thousands dots, spaces around names and values, two date formats, ja/nein
    and yes/no booleans, a repeated group key, CRLF."""
    rng = np.random.default_rng(13)
    lines = [" Kunde ;Gruppe;Betrag;Mitglied;Beginn;Ende;Tarif;gekündigt"]
    for row in range(rows):
        amount = float(rng.uniform(10, 20_000))
        churned = amount + rng.normal(0, 3_000) > 10_000
        text = f"{amount:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
        start = f"{row % 28 + 1:02d}.{row % 12 + 1:02d}.2023"
        end = f"2024-{row % 12 + 1:02d}-{row % 28 + 1:02d}"
        plan = ("basic ", " premium", "pro")[row % 3]
        member = ("ja", "nein")[int(rng.integers(2))]
        lines.append(
            f"{1000 + row};{row % 30};{text};{member};{start};{end};{plan};"
            + ("yes" if churned else "no")
        )
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))


def test_the_readme_steps_train_a_messy_csv(tmp_path: Path, mlflow_db_template: Path) -> None:
    steps = readme_steps((PROJECT_ROOT / "README.md").read_text(encoding="utf-8"))
    assert any(step.startswith("reprokit new ") for step in steps), steps
    root = copy_project(tmp_path / "project", mlflow_db_template)
    git_init(root)
    home = tmp_path / "home"
    (home / "Downloads").mkdir(parents=True)
    messy_csv(home / "Downloads" / "kunden.csv")
    env = {**tool_env(root), "HOME": str(home)}
    for step in steps:
        run(["bash", "-c", step], root, env=env)  # fails with the step's output
    data = yaml.safe_load((root / "conf/data/kunden.yaml").read_text(encoding="utf-8"))
    # What the file needs was detected (each option's value: tests/scaffold/test_new_command.py).
    needed = {"thousands", "strip_header", "strip_values", "true_values", "date_format"}
    assert needed <= set(data["read"]), data["read"]
    assert data["group_column"] == "Gruppe" and data["id_column"] == "Kunde"
    assert "override /split: group" in (root / "conf/experiment/kunden.yaml").read_text()
    metrics = json.loads((root / "data/08_reporting/metrics.json").read_text())
    assert metrics["roc_auc"] > 0.7
    for output in ("data/06_models/model.txt", "data/03_primary/train.parquet"):
        assert (root / output).is_file(), output
