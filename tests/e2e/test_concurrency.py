"""One writer at a time, with the real `dvc repro` and `reprokit run` in one project copy.

The issue's case: `reprokit run -p train model.num_leaves=63` while `dvc repro -f` runs used
to leave an MLflow run saying 31 leaves with the 63-leaf model's sha256, and DVC's run-cache
holding the 63-leaf model for the 31-leaf params. Made deterministic: the test waits until a
DVC stage holds the project lock before starting `reprokit run`.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import PROJECT_ROOT, all_runs, git_init, md5, run, sha256, store_client, tool_env

pytestmark = pytest.mark.slow

MODEL_FILE = "data/06_models/model.txt"
RAW_FILE = "data/01_raw/credit.parquet"
LOCK_FILE = ".reprokit/lock"


@pytest.fixture
def project(project_copy: Path) -> Path:
    shutil.copy2(PROJECT_ROOT / ".gitignore", project_copy / ".gitignore")
    git_init(project_copy)
    return project_copy


def start(args: list[str], cwd: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args,
        cwd=cwd,
        env={**tool_env(cwd), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_stage_holding_the_lock(project: Path, stage: str, dvc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    lock = project / LOCK_FILE
    while f"DVC stage '{stage}'" not in (lock.read_text() if lock.is_file() else ""):
        assert dvc.poll() is None, f"dvc repro ended first:\n{dvc.communicate()[1][-3000:]}"
        assert time.monotonic() < deadline, "no DVC stage took the project lock"
        time.sleep(0.05)


def finished(process: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=timeout)
    return process.returncode, stderr


def num_leaves(model_text: bytes) -> str:
    return next(
        line.split(b":")[1].strip(b" ]").decode()
        for line in model_text.splitlines()
        if line.startswith(b"[num_leaves:")
    )


def cached_file(project: Path, digest: str) -> bytes:
    return (project / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]).read_bytes()


def run_cache_md5s(project: Path) -> set[str]:
    """Every output md5 DVC's run-cache remembers, for any params."""
    found: set[str] = set()
    for entry in (project / ".dvc" / "cache" / "runs").rglob("*"):
        if entry.is_file():
            for out in yaml.safe_load(entry.read_text()).get("outs", []):
                found.add(str(out.get("md5")))
    return found


def the_run(runs: list[Any], entry_point: str) -> Any:
    matching = [r for r in runs if r.data.tags.get("rk.entry_point") == entry_point]
    assert len(matching) == 1, [r.data.tags.get("rk.entry_point") for r in runs]
    return matching[0]


def test_reprokit_run_waits_for_dvc_repro_and_each_run_records_its_own_model(
    project: Path,
) -> None:
    dvc = start(["dvc", "repro", "-f"], project)
    wait_for_stage_holding_the_lock(project, "prepare", dvc)

    refused_code, refused_log = finished(
        start(
            ["reprokit", "run", "-p", "train", "model.num_leaves=63"],
            project,
            REPROKIT_LOCK_TIMEOUT="0",
        )
    )
    assert refused_code != 0
    assert "another writer has the project" in refused_log
    assert "DVC stage" in refused_log or "DVC is running" in refused_log

    waiting = start(
        ["reprokit", "run", "-p", "train", "model.num_leaves=63"],
        project,
        REPROKIT_LOCK_TIMEOUT="600",
    )
    dvc_code, dvc_log = finished(dvc)
    assert dvc_code == 0, dvc_log[-3000:]
    code, log = finished(waiting)
    assert code == 0, log[-3000:]
    assert "waiting for the project lock" in log

    runs = all_runs(store_client(project))
    by_dvc, by_run = the_run(runs, "dvc repro"), the_run(runs, "reprokit run")
    assert by_dvc.info.end_time <= by_run.info.start_time  # one after the other

    # `reprokit run`'s model is the one in the workspace: 63 leaves, as its run says.
    model = (project / MODEL_FILE).read_bytes()
    assert num_leaves(model) == by_run.data.params["model.num_leaves"] == "63"
    assert by_run.data.tags["rk.model_sha256"] == sha256(model)

    # DVC's model is the one dvc.lock and DVC's cache hold: 31 leaves, as its run says.
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    dvc_md5 = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == MODEL_FILE)
    dvc_model = cached_file(project, dvc_md5)
    assert num_leaves(dvc_model) == by_dvc.data.params["model.num_leaves"] == "31"
    assert by_dvc.data.tags["rk.model_sha256"] == sha256(dvc_model)
    # The run-cache never took the 63-leaf model for a stage DVC ran.
    assert md5(model) not in run_cache_md5s(project)


def test_dvc_repro_stops_at_its_first_stage_while_a_writer_holds_the_project(
    project: Path,
) -> None:
    from reprokit.project_lock import ProjectLock

    with ProjectLock(project, "reprokit run -p train model.num_leaves=63", timeout=0):
        refused = run(["dvc", "repro"], project, check=False, timeout=300)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "is busy, it is being blocked by" in output
    assert "reprokit run -p train model.num_leaves=63" in output
    # Stopped before its first stage wrote anything.
    assert not any(path.is_file() for path in (project / "data").rglob("*"))
    assert not (project / "dvc.lock").exists()


def dvc_repro_until_stage_starts(project: Path, stage: str) -> tuple[Any, list[str]]:
    """`dvc repro`, read up to the log line of `stage` starting its pipeline."""
    dvc = start(["dvc", "repro"], project)
    assert dvc.stderr is not None
    lines: list[str] = []
    for line in dvc.stderr:
        lines.append(line)
        if "pipeline.start" in line and repr([stage]) in line:
            return dvc, lines
    raise AssertionError(f"{stage} never started:\n" + "".join(lines[-50:]))


def test_a_stage_whose_input_changes_while_it_runs_fails_and_nothing_is_kept(
    project: Path,
) -> None:
    """Another process rewrites a dep of `train` while it trains: the stage fails naming the
    file; DVC saves and caches nothing of it, and no run or stage record is left."""
    dvc, lines = dvc_repro_until_stage_starts(project, "train")
    features = project / "data" / "05_model_input"
    shutil.copy2(features / "test_features.parquet", features / "valid_features.parquet")
    code, log = finished(dvc)
    log = "".join(lines) + log
    assert code != 0
    assert "DVC stage 'train': its inputs changed while it ran" in log
    assert "data/05_model_input/valid_features.parquet (md5 " in log

    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert "features" in lock["stages"] and "train" not in lock["stages"]
    model_md5 = md5((project / MODEL_FILE).read_bytes())
    assert model_md5 not in run_cache_md5s(project)
    cache = project / ".dvc" / "cache" / "files" / "md5"
    assert not (cache / model_md5[:2] / model_md5[2:]).exists()
    assert not (project / ".reprokit" / "records" / "train.json").exists()
    assert all_runs(store_client(project)) == []


def test_raw_data_changed_after_prepare_read_it_is_not_recorded_as_the_runs_data(
    project: Path,
) -> None:
    """The raw file is rewritten after `prepare` read it: `track` would hash the new file
    into the run's fingerprint; it refuses instead, naming the file, and records nothing."""
    from reprokit.datagen.sources import materialize

    dvc, lines = dvc_repro_until_stage_starts(project, "train")
    materialize({"kind": "synthetic_credit", "rows": 500, "seed": 9}, project / RAW_FILE)
    code, log = finished(dvc)
    log = "".join(lines) + log
    assert code != 0
    assert f"DVC stage 'prepare': its inputs changed since it ran: {RAW_FILE} (md5 " in log
    assert all_runs(store_client(project)) == []
    assert not (project / "data" / "08_reporting" / "fingerprint.json").exists()


def test_track_registers_nothing_when_an_input_changes_before_registration(
    project: Path,
) -> None:
    """The track stage's last check runs after the run is logged and before its model is
    registered: a failed check ends the run FAILED with no model version."""
    from reprokit.config.compose import workspace_from_params_file
    from reprokit.input_guard import InputsChangedError
    from reprokit.tracking.session import track_dvc_execution

    run(["dvc", "repro", "evaluate"], project)

    def changed() -> None:
        raise InputsChangedError(f"the track stage: its inputs changed: {RAW_FILE}")

    with pytest.raises(InputsChangedError):
        track_dvc_execution(workspace_from_params_file(project), before_register=changed)
    client = store_client(project)
    [recorded] = all_runs(client)
    assert recorded.info.status == "FAILED"
    assert RAW_FILE in recorded.data.tags["rk.error"]
    assert client.search_model_versions("") == []
