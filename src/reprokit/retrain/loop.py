"""The retraining loop: batch -> checks -> drift report -> raw data -> `dvc repro` -> decision.

The pipeline's own `track` stage registers the model and applies the promotion rule; this
module reads what it decided and, where the rule could not compare (new data is a new test
split), judges both models on the batch's held-out rows (reprokit.retrain.judge). Every
decision goes to the pipeline's MLflow run: `rk.retrain.*` tags and
`retrain/decision.json`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprokit.core.names import (
    CHAMPION,
    MODEL_VERSION_TAG,
    PROMOTION_REASON_TAG,
    PROMOTION_REFUSED_TAG,
    QUALITY_GATE_TAG,
    RETRAIN_TAG,
    ROLLBACK_REASON_TAG,
    ROLLED_BACK,
    ROLLED_BACK_TAG,
)
from reprokit.logs import get_logger
from reprokit.retrain.data import (
    Backup,
    RetrainError,
    back_up,
    check_combined,
    dvc,
    raw_path,
    read_checked,
    restore,
    write_raw,
)
from reprokit.retrain.decision import (
    NO_DRIFT,
    Mode,
    combine,
    outcome,
    rolled_back_reason,
    should_retrain,
)
from reprokit.retrain.judge import Batch, judge

if TYPE_CHECKING:
    import pandas as pd

    from reprokit.config.compose import Workspace
    from reprokit.monitoring.cli import BatchCheck

log = get_logger(__name__)

TAG = RETRAIN_TAG
DECISION_ARTIFACT = "retrain/decision.json"
MAX_TAG_LENGTH = 5000
# What a decision that is not the rule's own says, per outcome.
KEPT_BECAUSE = {
    "no_model": "the pipeline registered no model",
    "gate_failed": "the model missed its quality gate",
    "unchanged": "the new model has the champion's own bytes: nothing changed",
}


@dataclass(frozen=True)
class Request:
    """One `reprokit retrain` call."""

    current: Path
    if_drift: bool
    mode: Mode | None


def _registry(workspace: Workspace) -> tuple[Any, str]:
    """The MLflow client and the registered model; retraining without them could decide
    nothing and record nothing."""
    from reprokit.tracking.store import connect

    config = workspace.config
    name = config.tracking.registered_model
    if not config.tracking.enabled or not name:
        raise RetrainError(
            "tracking is off or tracking.registered_model is unset in params.yaml: the "
            "retraining loop records its decisions in MLflow and promotes through the "
            "registry; use `tracking: local` (or remote) in conf/config.yaml"
        )
    return connect(config, workspace.root), name


def _champion(client: Any, name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def _drift(check: BatchCheck) -> dict[str, Any]:
    return {
        "status": check.status,
        "drifted": check.summary["drifted"],
        "alarms": check.summary["alarms"],
        "reference": check.summary["reference"],
        "summary_file": str(check.paths.summary),
    }


def _record(client: Any, run_id: str, record: dict[str, Any]) -> None:
    """The decision on the pipeline's run: tags to search by, the whole record as JSON."""
    tags = {
        "drift": record["drift"]["status"],
        "outcome": record["outcome"],
        "decision": record["decision"]["action"],
        "reason": record["decision"]["reason"],
        "champion_before": record["champion_before"] or "none",
        "champion_after": record["champion_after"] or "none",
        "mode": record["mode"],
    }
    for key, value in tags.items():
        client.set_tag(run_id, f"{TAG}{key}", str(value)[:MAX_TAG_LENGTH])
    client.log_text(run_id, json.dumps(record, indent=2, sort_keys=True), DECISION_ARTIFACT)


def _record_skipped(client: Any, run_id: str, record: dict[str, Any], stamp: str) -> None:
    """A batch that retrained nothing: its record goes to the reference's run (where the
    drift report went too), one file per check, so no earlier decision is overwritten."""
    client.set_tag(run_id, f"{TAG}last_check", f"{stamp}: {NO_DRIFT}")
    client.log_text(
        run_id, json.dumps(record, indent=2, sort_keys=True), f"retrain/{stamp}-skipped.json"
    )


def _runs_since(client: Any, workspace: Workspace, started_ms: int) -> list[Any]:
    """The project's runs started since `started_ms`, newest first (the pipeline's)."""
    from reprokit.tracking.store import experiment_id

    experiment = experiment_id(client, workspace.config, workspace.root)
    return list(
        client.search_runs(
            [experiment],
            filter_string=f"attributes.start_time >= {started_ms}",
            order_by=["attributes.start_time DESC"],
            max_results=5,
        )
    )


def _combined(
    workspace: Workspace, raw: Path, batch: pd.DataFrame, mode: Mode
) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """The raw data as it is and as it will be, the latter checked against the schema."""
    from reprokit.io import read_table

    data = workspace.config.data
    existing = read_table(raw, data.read) if raw.is_file() else None
    combined = combine(existing, batch, mode)
    check_combined(workspace, combined, f"raw data {data.path} after {mode} of the batch")
    return existing, combined


def _write_batch(
    workspace: Workspace, raw: Path, batch: pd.DataFrame, mode: Mode, stamp: str
) -> tuple[Backup, Batch, dict[str, int]]:
    """Combine the batch with the raw data and write it, under the project lock (combined
    again there: the check before the drift report ran without the lock): the backup of
    what was there, the batch's ids, the row counts."""
    from reprokit.project_lock import project_lock

    with project_lock(workspace.root):
        existing, combined = _combined(workspace, raw, batch, mode)
        backup = back_up(workspace.root, raw, stamp)
        write_raw(raw, combined)
    id_column = workspace.config.data.id_column
    ids = Batch(
        ids=batch[id_column] if id_column else None,
        previous_ids=existing[id_column] if existing is not None and id_column else None,
    )
    rows = {"before": 0 if existing is None else len(existing), "after": len(combined)}
    return backup, ids, rows


def _reproduce(workspace: Workspace, backup: Backup) -> None:
    """`dvc add` the raw data and `dvc repro`; on any failure the previous raw data (and its
    DVC pointer) are put back, so a failed retrain leaves the data as it found it."""
    data_path = workspace.config.data.path
    try:
        added = dvc(workspace.root, "add", data_path)
        if added.returncode != 0:
            raise RetrainError(
                f"`dvc add {data_path}` failed: {added.stderr.strip() or added.stdout.strip()}"
            )
        if dvc(workspace.root, "repro", capture=False).returncode != 0:
            raise RetrainError(
                "`dvc repro` failed (its output above names the stage and the error); the "
                f"previous {data_path} is restored (a copy is kept in {backup.saved}); run "
                "`dvc repro` to bring the outputs back in line with it"
            )
    except BaseException:
        restore(backup)
        raise


def _decide(
    workspace: Workspace, client: Any, name: str, run: Any, before: str | None, *, batch: Batch
) -> dict[str, Any]:
    """What the run's registration and promotion decided, and the loop's own judgement
    where the rule could not compare; promotes when that judgement says so."""
    from reprokit.tracking.store import promote

    tags = run.data.tags
    version = tags.get(MODEL_VERSION_TAG)
    version_tags = {} if version is None else client.get_model_version(name, version).tags
    result = outcome(
        version=version,
        gate=tags.get(QUALITY_GATE_TAG),
        champion_before=before,
        champion_after=_champion(client, name),
        refused=PROMOTION_REFUSED_TAG in version_tags,
        rolled_back=version_tags.get(ROLLED_BACK_TAG) == ROLLED_BACK,
    )
    decided: dict[str, Any] = {"outcome": result, "version": version}
    if result == "rolled_back":
        assert version is not None, "outcome() checked it"
        _unpromote(client, name, version, before)
        reason = rolled_back_reason(version, version_tags.get(ROLLBACK_REASON_TAG), before)
        decided["decision"] = {"action": "keep", "reason": reason}
    elif result == "rejudge":
        assert before is not None and version is not None, "outcome() checked both"
        judgement, scores = judge(workspace, client, name, run, before, batch=batch)
        decision = judgement.decision
        decided["held_out"] = scores
        if decision.action == "promote":
            # The rule's refusal was about the test splits; on the held-out rows it promotes.
            client.delete_model_version_tag(name, version, PROMOTION_REFUSED_TAG)
            promote(client, name, version, decision.reason)
        decided["decision"] = {"action": decision.action, "reason": decision.reason}
    elif result in ("promoted_by_rule", "kept_by_rule"):
        # The `track` stage tags a promotion's or a refusal's reason on the version; a kept
        # champion only in its log.
        reason = version_tags.get(PROMOTION_REASON_TAG) or version_tags.get(
            PROMOTION_REFUSED_TAG, f"the promotion rule kept champion v{before}"
        )
        action = "promote" if result == "promoted_by_rule" else "keep"
        decided["decision"] = {"action": action, "reason": reason}
    else:
        decided["decision"] = {"action": "keep", "reason": KEPT_BECAUSE[result]}
    decided["champion_after"] = _champion(client, name)
    return decided


def _unpromote(client: Any, name: str, version: str, before: str | None) -> None:
    """Undo the `track` stage's promotion of a rolled-back `version`: `champion` goes back
    to `before` (or is unset, as it was). The alias only: `before`'s promotion record stays."""
    if _champion(client, name) != version:
        return
    if before is None:
        client.delete_registered_model_alias(name, CHAMPION)
    else:
        client.set_registered_model_alias(name, CHAMPION, before)
    log.warning("retrain.rolled_back_not_promoted", model=name, version=version, champion=before)


def _failed(client: Any, record: dict[str, Any], runs: list[Any], error: RetrainError) -> None:
    """A failed pipeline changed nothing; its decision goes to the failed run, if any."""
    gate = runs[0].data.tags.get(QUALITY_GATE_TAG) if runs else None
    result = "gate_failed" if gate == "failed" else "pipeline_failed"
    record.update(
        outcome=result,
        decision={"action": "keep", "reason": f"{KEPT_BECAUSE.get(result, result)}: {error}"},
        champion_after=record["champion_before"],
    )
    if runs:
        record["run_id"] = runs[0].info.run_id
        _record(client, runs[0].info.run_id, record)


def retrain(workspace: Workspace, request: Request, say: Callable[[str], None]) -> dict[str, Any]:
    """Run the loop; the decision record (also logged to MLflow).

    Raises:
        RetrainInputError: The batch is unreadable or violates the schema (nothing written).
        RetrainError: The loop cannot run here, or the pipeline failed (data restored).
    """
    from reprokit.monitoring.cli import check_batch
    from reprokit.project_lock import project_lock

    mode: Mode = request.mode or workspace.config.tracking.retrain.mode
    raw = raw_path(workspace)
    client, name = _registry(workspace)
    batch = read_checked(workspace, request.current, f"batch {request.current}")
    # Every check of the data before the (slower) drift report: a bad batch fails fast.
    _combined(workspace, raw, batch, mode)
    checked = check_batch(workspace, request.current, batch)
    before = _champion(client, name)
    record: dict[str, Any] = {
        "batch": {"path": str(request.current), "rows": len(batch)},
        "drift": _drift(checked),
        "mode": mode,
        "if_drift": request.if_drift,
        "champion_before": before,
    }
    drifted = ", ".join(checked.summary["drifted"]) or "no column drifted"
    say(f"drift report: {checked.status.upper()} ({drifted})")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    if not should_retrain(checked.status, request.if_drift):
        record.update(
            outcome="not_retrained",
            decision={"action": "keep", "reason": NO_DRIFT},
            champion_after=before,
        )
        if checked.logged_to is not None:
            _record_skipped(client, checked.logged_to, record, stamp)
        log.info("retrain.skipped", reason=NO_DRIFT, champion=before)
        say(NO_DRIFT)
        return record
    started_ms = int(time.time() * 1000)
    backup, ids, rows = _write_batch(workspace, raw, batch, mode, stamp)
    record["raw"] = {"path": workspace.config.data.path, **rows, "backup": str(backup.saved)}
    say(f"{mode}: {workspace.config.data.path} {rows['before']} -> {rows['after']} rows; dvc repro")
    try:
        _reproduce(workspace, backup)
    except RetrainError as error:
        _failed(client, record, _runs_since(client, workspace, started_ms), error)
        raise
    runs = _runs_since(client, workspace, started_ms)
    if not runs:
        raise RetrainError("`dvc repro` recorded no MLflow run (was every stage up to date?)")
    run = runs[0]
    record["run_id"] = run.info.run_id
    with project_lock(workspace.root):
        record.update(_decide(workspace, client, name, run, before, batch=ids))
        _record(client, run.info.run_id, record)
    log.info(
        "retrain.decided",
        run_id=run.info.run_id,
        outcome=record["outcome"],
        action=record["decision"]["action"],
        champion_before=before,
        champion_after=record["champion_after"],
    )
    say(f"{record['decision']['action']}: {record['decision']['reason']}")
    return record
