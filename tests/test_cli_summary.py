"""The summary `reprokit run` ends with, and the typed last-run record it reads."""

from __future__ import annotations

import json
from pathlib import Path

from reprokit.cli_summary import render_run_summary, this_run
from reprokit.layout import LAST_RUN_FILE, LastRun, read_last_run, write_last_run


def _last(run_id: str = "a" * 32, **overrides: object) -> LastRun:
    fields: dict[str, object] = {
        "run_id": run_id,
        "tracking_uri": "sqlite:///mlruns.db",
        "fingerprint": "f" * 64,
        "model_version": "3",
        "registered_model": "credit",
        "model_aliases": ["challenger", "champion"],
        "entry_point": "reprokit run",
        "gate": "passed",
        "metrics": {"log_loss": 0.37741, "roc_auc": 0.764194, "n_test": 2000.0},
    }
    return LastRun.model_validate({**fields, **overrides})


def test_summary_names_gate_metrics_model_and_outputs() -> None:
    outputs = [Path("data/06_models/model.txt"), Path("data/06_models/profile.json")]
    lines = render_run_summary(_last(), primary_metric="roc_auc", outputs=outputs)
    assert lines[0] == f"run {'a' * 32} finished (reprokit run); quality gate: passed"
    # The primary metric first, the others by name; counts without decimals.
    assert lines[1] == "  metrics  roc_auc 0.7642  log_loss 0.3774  n_test 2000"
    assert lines[2] == "  model    credit v3 [challenger, champion]"
    assert lines[3] == "  outputs  data/06_models/ (2)"
    assert len(lines) == 5  # a record without its experiment id (older reprokit): no UI line


def test_summary_says_where_the_runs_table_opens() -> None:
    embedded = render_run_summary(_last(experiment_id="1"), primary_metric="roc_auc", outputs=[])
    assert embedded[-1] == (
        "  UI       mlflow ui --backend-store-uri sqlite:///mlruns.db, then http://127.0.0.1:5000"
        "/#/experiments/1/runs?workflowType=machine_learning&viewStateShareKey=reprokit"
    )
    remote = _last(experiment_id="4", tracking_uri="http://127.0.0.1:5000/")
    served = render_run_summary(remote, primary_metric="roc_auc", outputs=[])
    assert served[-1].endswith(
        "  http://127.0.0.1:5000/#/experiments/4/runs?"
        "workflowType=machine_learning&viewStateShareKey=reprokit"
    )


def test_summary_without_a_registered_model_or_tracking() -> None:
    untrained = _last(model_version=None, registered_model=None, model_aliases=[], metrics={})
    lines = render_run_summary(untrained, primary_metric="roc_auc", outputs=[])
    assert not any(line.startswith("  metrics") for line in lines)
    assert "none registered" in lines[1]
    assert lines[2] == "  outputs  none written"
    untracked = render_run_summary(None, primary_metric="roc_auc", outputs=[])
    assert untracked[0] == "run finished, not tracked (tracking.enabled is false)"


def test_this_run_is_the_record_written_during_the_run() -> None:
    earlier, later = _last("1" * 32), _last("2" * 32)
    assert this_run(None, later) == later
    assert this_run(earlier, later) == later
    assert this_run(earlier, earlier) is None  # tracking off: nothing new was written
    assert this_run(earlier, None) is None


def test_last_run_round_trip_and_tolerant_reads(tmp_path: Path) -> None:
    assert read_last_run(tmp_path) is None
    write_last_run(tmp_path, _last())
    assert read_last_run(tmp_path) == _last()
    path = tmp_path / LAST_RUN_FILE
    # Written by an older reprokit: the keys it knew, none of the new ones; unknown keys pass.
    old = {"run_id": "r1", "tracking_uri": "u", "fingerprint": "f", "model_sha256": "s", "x": 1}
    path.write_text(json.dumps(old), encoding="utf-8")
    record = read_last_run(tmp_path)
    assert record is not None
    assert (record.run_id, record.model_sha256, record.model_aliases) == ("r1", "s", [])
    path.write_text("{not json", encoding="utf-8")
    assert read_last_run(tmp_path) is None
