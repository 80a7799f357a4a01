"""The retraining loop end to end, with the real dvc, MLflow store and pipeline: a batch
without drift retrains nothing; a drifted one is appended, `dvc repro` trains on it, and the
new model, better on the batch's held-out rows, becomes champion; a model that misses its
quality gate changes nothing and the raw data is put back."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from tests.retrain.retrain_project import RAW, batch
from tests.support import aliases, artifact_text, file_md5, run, store_client
from tests.support.templates import relocated_copy


def _retrain(project: Path, current: Path) -> tuple[int, dict[str, object], str]:
    result = run(
        ["reprokit", "retrain", "--if-drift", "--current", str(current), "--json"],
        project,
        check=False,
    )
    record = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, record, result.stderr


def _dvc_pointer_md5(project: Path) -> str:
    text = (project / f"{RAW}.dvc").read_text(encoding="utf-8")
    return text.split("md5: ")[1].split()[0]


@pytest.mark.slow
def test_drift_retrains_and_promotes_and_a_gate_failure_changes_nothing(
    first_repro_template: Path, tmp_path: Path
) -> None:
    project = relocated_copy(first_repro_template, tmp_path / "project")  # after `dvc repro`
    client = store_client(project)
    assert aliases(client)["champion"] == "1"
    raw_before = file_md5(project / RAW)

    fresh = batch(project, tmp_path / "fresh.parquet", 1000, seed=11, drift=False)
    code, record, stderr = _retrain(project, fresh)
    assert code == 0, stderr
    assert record["decision"] == {"action": "keep", "reason": "no drift, nothing retrained"}
    assert file_md5(project / RAW) == raw_before
    assert len(client.search_model_versions("name = 'reprokit-credit'")) == 1

    drifted = batch(project, tmp_path / "drifted.parquet", 3000, seed=12, drift=True)
    first = tmp_path / "drifted-1.parquet"
    pd.read_parquet(drifted).head(1000).to_parquet(first, index=False)
    code, record, stderr = _retrain(project, first)
    assert code == 0, stderr
    assert record["drift"]["status"] == "alarm"  # type: ignore[index]
    assert record["raw"]["after"] == 5000  # type: ignore[index]
    assert record["outcome"] == "rejudge"
    assert record["version"] == "2"
    assert record["decision"]["action"] == "promote", record["decision"]  # type: ignore[index]
    assert "held-out rows of the batch" in record["decision"]["reason"]  # type: ignore[index]
    assert aliases(client) == {"champion": "2", "challenger": "2"}
    run_id = str(record["run_id"])
    tags = client.get_run(run_id).data.tags
    assert tags["rk.retrain.decision"] == "promote"
    assert tags["rk.retrain.champion_before"] == "1"
    assert tags["rk.retrain.champion_after"] == "2"
    logged = json.loads(artifact_text(client, run_id, "retrain/decision.json"))
    assert logged["decision"] == record["decision"]
    assert "rk.not_promoted" not in client.get_model_version("reprokit-credit", "2").tags
    # The raw data is tracked by DVC with its new content.
    assert _dvc_pointer_md5(project) == file_md5(project / RAW) != raw_before

    appended = file_md5(project / RAW)
    rest = tmp_path / "drifted-2.parquet"
    pd.read_parquet(drifted).iloc[1000:].to_parquet(rest, index=False)
    code, record, stderr = _retrain(project, rest)
    assert code == 1
    assert "quality gate failed" in stderr
    assert "Traceback" not in stderr
    assert aliases(client)["champion"] == "2"
    assert file_md5(project / RAW) == appended == _dvc_pointer_md5(project)
    failed = client.search_runs(
        [client.get_run(run_id).info.experiment_id],
        filter_string="tags.`rk.retrain.outcome` = 'gate_failed'",
    )
    assert [r.data.tags["rk.retrain.champion_after"] for r in failed] == ["2"]
