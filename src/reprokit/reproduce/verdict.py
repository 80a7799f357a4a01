"""The verdict: the reproduced model and metrics against the recorded ones, exactly."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprokit.core.content.files import file_sha256
from reprokit.core.names import MODEL_SHA256_TAG
from reprokit.reproduce.recorded import Recorded, metrics_dataset, model_dataset
from reprokit.tracking.compare import ABSENT, flatten_config, show_value
from reprokit.tracking.runs import RecordedRun

if TYPE_CHECKING:
    from rich.console import Console


@dataclass(frozen=True)
class Check:
    item: str
    recorded: Any
    reproduced: Any

    @property
    def same(self) -> bool:
        return self.recorded is not ABSENT and bool(self.recorded == self.reproduced)


@dataclass
class Reproduction:
    run_id: str
    notes: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return bool(self.checks) and all(check.same for check in self.checks)

    @property
    def differences(self) -> list[str]:
        return [check.item for check in self.checks if not check.same]


def _json_leaves(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    value = json.loads(path.read_text(encoding="utf-8"))
    return flatten_config(value) if isinstance(value, dict) else {"(value)": value}


def output_checks(
    run: RecordedRun, recorded: Recorded, workspace: Path, params: Mapping[str, Any]
) -> list[Check]:
    """Model sha256 against the tag and the artifact; every metric, exactly."""
    catalog = params.get("catalog") or {}
    model = workspace / str(catalog[model_dataset(params, run.run_id)]["filepath"])
    reproduced_sha = file_sha256(model) if model.is_file() else ABSENT
    checks = [
        Check("model sha256 (tag)", run.tag(MODEL_SHA256_TAG) or ABSENT, reproduced_sha),
        Check("model sha256 (artifact)", file_sha256(recorded.model), reproduced_sha),
    ]
    metrics_file = workspace / str(catalog[metrics_dataset(params)]["filepath"])
    before, after = _json_leaves(recorded.metrics), _json_leaves(metrics_file)
    for name in sorted(set(before) | set(after)):
        checks.append(Check(f"metric {name}", before.get(name, ABSENT), after.get(name, ABSENT)))
    return checks


def render_reproduction(result: Reproduction, out: Console) -> None:
    from rich.table import Table

    table = Table(title=f"reproduction of run {result.run_id}")
    table.add_column("item")
    table.add_column("recorded", overflow="fold")
    table.add_column("reproduced", overflow="fold")
    table.add_column("same?")
    for check in result.checks:
        table.add_row(
            check.item,
            show_value(check.recorded),
            show_value(check.reproduced),
            "yes" if check.same else "NO",
        )
    out.print(table)
    if result.identical:
        out.print("IDENTICAL")
        return
    out.print(f"DIFFERENT: {', '.join(result.differences) or 'nothing was compared'}")
    # Name the machine's part in a difference rather than leave the user to guess.
    environment = [note for note in result.notes if note.startswith("environment: differs")]
    for note in environment:
        out.print(f"this machine {note[len('environment: ') :]}")
