"""The recorded run that vouches for a model file: packaging ships nothing else.

Found by content, in the tracking store: the runs of this project whose
`rk.model_sha256` tag is the file's sha256 (only a run that produced a model tags it,
src/reprokit/tracking/outputs.py). One of them must be FINISHED with its quality gate
passed, and must have produced the feature state and profile bundled with the model.
`.reprokit/last_run.json` is a hint for which of several such runs to take, never proof.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit.config.compose import Workspace
from reprokit.core.names import (
    ERROR_TAG,
    FINGERPRINT_TAG,
    MODEL_SHA256_TAG,
    MODEL_VERSION_TAG,
    PROJECT_TAG,
    QUALITY_GATE_TAG,
    is_result_metric,
)
from reprokit.errors import ReprokitError
from reprokit.layout import read_last_run

MAX_CANDIDATES = 50
GATE_PASSED = "passed"


class UnvouchedModelError(ReprokitError):
    """No FINISHED, gate-passing run of this project produced the model to package."""


@dataclass(frozen=True)
class RecordedRun:
    run_id: str
    fingerprint: str
    model_version: str | None
    tracking_uri: str
    metrics: dict[str, float]


def _tag(run: Any, key: str) -> str | None:
    value = run.data.tags.get(key)
    return None if value is None else str(value)


def rejection(
    run: Any, bundled_sha256: Mapping[str, str], catalog: Mapping[str, Any]
) -> str | None:
    """Why `run` cannot vouch for the model (None: it can); `bundled_sha256` by dataset of
    `catalog`."""
    from reprokit.tracking.outputs import output_sha256_key

    run_id, status = run.info.run_id, run.info.status
    gate = _tag(run, QUALITY_GATE_TAG)
    if gate == "failed" or status != "FINISHED":
        error = _tag(run, ERROR_TAG) or "no error recorded"
        return f"run {run_id} is {status} (quality gate: {gate or 'unknown'}): {error}"
    if gate != GATE_PASSED:
        return (
            f"run {run_id} did not check the quality gate (quality gate: {gate or 'unknown'}); "
            "run the evaluate pipeline in the same execution as train"
        )
    for name, sha256 in sorted(bundled_sha256.items()):
        recorded = _tag(run, output_sha256_key(catalog, name))
        if recorded != sha256:
            return (
                f"run {run_id} did not produce the {name} on disk (sha256 {sha256[:12]}, the "
                f"run's {recorded[:12] if recorded else 'none'})"
            )
    return None


def _preferred(workspace: Workspace) -> str | None:
    last = read_last_run(workspace.root)
    return last.run_id if last is not None else None


def _candidates(client: Any, workspace: Workspace, model_sha256: str) -> list[Any]:
    config = workspace.config
    experiment = client.get_experiment_by_name(config.tracking.experiment)
    if experiment is None:
        return []
    return list(
        client.search_runs(
            [experiment.experiment_id],
            filter_string=(
                f"tags.`{MODEL_SHA256_TAG}` = '{model_sha256}' "
                f"and tags.`{PROJECT_TAG}` = '{config.project.name}'"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=MAX_CANDIDATES,
        )
    )


def _recorded(run: Any, tracking_uri: str) -> RecordedRun:
    return RecordedRun(
        run_id=str(run.info.run_id),
        fingerprint=_tag(run, FINGERPRINT_TAG) or "",
        model_version=_tag(run, MODEL_VERSION_TAG),
        tracking_uri=tracking_uri,
        # The evaluation's numbers, not the stage timings or costs.
        metrics={k: float(v) for k, v in run.data.metrics.items() if is_result_metric(k)},
    )


def find_vouching_run(
    workspace: Workspace, model_sha256: str, bundled: Mapping[str, Path], model: Path
) -> RecordedRun:
    """The FINISHED, gate-passing run of this project that produced `model` and `bundled`.

    Raises:
        UnvouchedModelError: No such run; the message names the runs that recorded the
            model and why each one cannot vouch for it.
    """
    from reprokit.core.content.files import file_sha256
    from reprokit.tracking.store import connect, tracking_uri

    config, root = workspace.config, workspace.root
    uri = tracking_uri(config, root)
    client = connect(config, root)
    bundled_sha256 = {name: file_sha256(path) for name, path in bundled.items()}
    runs = _candidates(client, workspace, model_sha256)
    reasons = {run.info.run_id: rejection(run, bundled_sha256, config.catalog) for run in runs}
    good = [run for run in runs if reasons[run.info.run_id] is None]
    preferred = _preferred(workspace)
    # Several runs may have produced the same bytes: the last one recorded here first,
    # then the newest one with a registered version, then the newest.
    good.sort(key=lambda run: (run.info.run_id != preferred, _tag(run, MODEL_VERSION_TAG) is None))
    if good:
        return _recorded(good[0], uri)
    if not runs:
        raise UnvouchedModelError(
            f"{model} (sha256 {model_sha256[:12]}) was produced by no recorded run of project "
            f"{config.project.name!r} in {uri}: nothing vouches for it, so it is not packaged; "
            "train it with `dvc repro` or `reprokit run` (tracking on), or package it with "
            "`reprokit package --untracked`"
        )
    raise UnvouchedModelError(
        f"{model} (sha256 {model_sha256[:12]}) is not packaged: no FINISHED, gate-passing run "
        "produced it; "
        + "; ".join(str(reason) for reason in reasons.values())
        + ". Fix the model or conf/evaluation's gate and rerun the pipeline"
    )
