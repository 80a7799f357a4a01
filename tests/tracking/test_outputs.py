"""Which outputs a `dvc repro` execution owns: its stages' records, plus the stages DVC
skipped whose dvc.lock entry still matches the params, dependencies and outputs on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import PROJECT_ROOT, file_md5

from reprokit.config.compose import workspace_from_params_file
from reprokit.pipeline.spec import lookup
from reprokit.tracking.outputs import DVC_LOCK, WRITTEN, Output, dvc_outputs
from reprokit.tracking.recorder import earliest_start_ms, hashed_files

WORKSPACE = workspace_from_params_file(PROJECT_ROOT)
CONFIG, PARAMS = WORKSPACE.config, WORKSPACE.params
DEPS = ("data/04_feature/feature_state.json", "data/05_model_input/train_features.parquet")
OUTS = ("data/06_models/model.txt", "data/06_models/training_history.json")
TRAIN_PARAMS = ("model", "engine", "catalog.model")


def write_train_stage(root: Path, params: dict[str, Any]) -> None:
    """The files of the train stage and a dvc.lock entry that matches them."""
    for name in (*DEPS, *OUTS):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {name}\n", encoding="utf-8")
    entry = {
        "cmd": "reprokit stage train",
        "deps": [{"path": p, "hash": "md5", "md5": file_md5(root / p)} for p in DEPS],
        "params": {"params.yaml": {key: lookup(params, key) for key in TRAIN_PARAMS}},
        "outs": [{"path": p, "hash": "md5", "md5": file_md5(root / p)} for p in OUTS],
    }
    lock = {"schema": "2.0", "stages": {"train": entry}}
    (root / "dvc.lock").write_text(yaml.safe_dump(lock), encoding="utf-8")


def outputs(root: Path, records: dict[str, Any] | None = None) -> dict[str, Output]:
    found, _ = dvc_outputs(CONFIG, PARAMS, root, records or {}, hashed_files(CONFIG, root))
    return found


def test_a_skipped_stage_matching_its_lock_owns_its_outputs(tmp_path: Path) -> None:
    write_train_stage(tmp_path, PARAMS)
    model = tmp_path / "data/06_models/model.txt"
    found = outputs(tmp_path)
    assert found["model"] == Output(hashlib.sha256(model.read_bytes()).hexdigest(), DVC_LOCK)
    assert found["training_history"].origin == DVC_LOCK
    assert "metrics" not in found  # evaluate has no lock entry: not this execution's


@pytest.mark.parametrize("changed", ["param", "dependency", "output"])
def test_a_stage_that_no_longer_matches_its_lock_owns_nothing(tmp_path: Path, changed: str) -> None:
    params = PARAMS
    if changed == "param":
        params = {**PARAMS, "model": {**PARAMS["model"], "num_leaves": 63}}
    write_train_stage(tmp_path, params)
    if changed != "param":
        name = DEPS[0] if changed == "dependency" else OUTS[0]
        (tmp_path / name).write_text("edited by hand\n", encoding="utf-8")
    assert "model" not in outputs(tmp_path)


def test_a_stage_record_wins_over_the_lock(tmp_path: Path) -> None:
    write_train_stage(tmp_path, PARAMS)
    record = {"saved": {"model": "f" * 64, "training_history": None}}
    found = outputs(tmp_path, {"train": record})
    assert found["model"] == Output("f" * 64, WRITTEN)


def test_a_model_file_changed_after_its_node_wrote_it_is_not_recorded(tmp_path: Path) -> None:
    """The run registers the bytes its node wrote, hashed then; another writer's are refused."""
    from reprokit.core.content.fingerprint import Fingerprint
    from reprokit.tracking.store import Execution, TrackingError, produced_file

    model = tmp_path / "data/06_models/model.txt"
    model.parent.mkdir(parents=True)
    model.write_text("the model this execution wrote\n", encoding="utf-8")
    written = hashlib.sha256(model.read_bytes()).hexdigest()
    execution = Execution(
        config=CONFIG,
        params=PARAMS,
        root=tmp_path,
        fingerprint=Fingerprint("f", "c", {}, "code", "lock"),
        entry_point="test",
        outputs={"model": Output(written)},
    )
    assert produced_file(execution, "model") == model
    assert produced_file(execution, "metrics") is None  # not produced by this execution
    model.write_text("a concurrent command's model\n", encoding="utf-8")
    with pytest.raises(TrackingError, match=r"model\.txt changed after this execution wrote it"):
        produced_file(execution, "model")


def test_a_dvc_run_starts_when_its_first_rerun_stage_started() -> None:
    records = {
        "train": {"started": "2026-12-01T10:00:07+00:00"},
        "prepare": {"started": "2026-12-01T10:00:01+00:00"},
        "features": {"started": ""},  # an older or broken record: ignored
    }
    assert earliest_start_ms(records) == 1_796_119_201_000
    assert earliest_start_ms({}) is None
