"""How a run reads in the MLflow UI: its name, the params it shows, a version's description.

Pure decisions, no MLflow: the store applies them. The run keeps everything needed to redo it
elsewhere (the whole composed config is its `composed_config.yaml` artifact, its identity is
in tags); the params are what a person compares runs by.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from reprokit.core.dotted import assign, drop, lookup

# The keys that define an experiment: what was learned from which data, how. Schema, catalog,
# pipeline wiring, tracking, serving and monitoring settings stay in composed_config.yaml:
# as params they were ~200 of a run's 242 and buried `model.*`.
EXPERIMENT_KEYS = (
    "data.name",
    "data.task",
    "data.target",
    "data.source",
    "data.path",
    "model",
    "features",
    "split",
    "evaluation",
    "engine",
)
# Every task's gate is in `evaluation.gates`; the one this run applies is `evaluation.gate`.
NOT_EXPERIMENT_KEYS = ("evaluation.gates",)
OVERRIDES_IN_NAME = 60  # characters of a run's overrides its name shows


def experiment_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a composed config that defines the experiment, nested as it was."""
    chosen: dict[str, Any] = {}
    for key in EXPERIMENT_KEYS:
        try:
            value = lookup(params, key)
        except KeyError:
            continue  # an optional key (`data.path` of a generated source)
        assign(chosen, key, copy.deepcopy(value))
    for key in NOT_EXPERIMENT_KEYS:
        drop(chosen, key)
    return chosen


def run_name(
    entry_point: str, overrides: Sequence[str], started: datetime, dvc_experiment: str = ""
) -> str:
    """`dvc exp run exp-1a2b3 model.num_leaves=63 1201-142233`: how it ran, what it changed
    and when (to the second, in local time; executions of one project are serialised by its
    lock, so the name is unique per run)."""
    parts = [entry_point]
    if dvc_experiment:
        parts.append(dvc_experiment)
    changed = " ".join(overrides)
    if changed:
        cut = len(changed) > OVERRIDES_IN_NAME
        parts.append(changed[: OVERRIDES_IN_NAME - 1] + "…" if cut else changed)
    parts.append(started.strftime("%m%d-%H%M%S"))
    return " ".join(parts)


def version_description(
    fingerprint: str,
    data_hashes: Mapping[str, str],
    metrics: Mapping[str, float],
    run_id: str,
) -> str:
    """A registered version's description (Markdown in the registry UI): where it comes from
    and how good it was on its test split."""
    lines = [f"Trained by run `{run_id}`, fingerprint `{fingerprint[:12]}`."]
    if data_hashes:
        data = ", ".join(f"{name} md5 `{md5[:12]}`" for name, md5 in sorted(data_hashes.items()))
        lines.append(f"Data: {data}.")
    shown = {name: value for name, value in sorted(metrics.items()) if "." not in name}
    if shown:
        lines.append("Metrics: " + ", ".join(f"{k} {v:.4g}" for k, v in shown.items()) + ".")
    return "\n\n".join(lines)


LEARNING_CURVE_PREFIX = "valid."  # `valid.binary_logloss` at step i: iteration i's value


def learning_curve_points(history: Mapping[str, Any]) -> list[tuple[str, float, int]]:
    """(name, value, step) per iteration of a training history (`metric`, `valid_metric`);
    none when the model trained without a validation split or the history has no curve."""
    metric, values = history.get("metric"), history.get("valid_metric")
    if not isinstance(metric, str) or not isinstance(values, list):
        return []
    name = LEARNING_CURVE_PREFIX + metric
    return [(name, float(value), step) for step, value in enumerate(values) if value is not None]


# --- the runs table -------------------------------------------------------------------------

# MLflow 3.17's UI opens every experiment in GenAI mode (traces, tokens, cost) whatever its
# `mlflow.experimentKind` tag says: the mode is the browser's own setting, which the
# `workflowType` query parameter overrides. Its runs table shows no metric column until the
# user picks them, except in a shared view: an experiment tag `mlflow.sharedViewState.<key>`
# holding the table's state as JSON, opened by `viewStateShareKey=<key>`.
RUNS_VIEW_KEY = "reprokit"
RUNS_VIEW_TAG = f"mlflow.sharedViewState.{RUNS_VIEW_KEY}"
MODEL_TRAINING_MODE = "workflowType=machine_learning"
RUNS_TABLE_ATTRIBUTES = ("Source", "Models")


def runs_table_view(primary_metric: str, maximize: bool, metrics: Sequence[str]) -> str:
    """The shared view the project's runs open in: the primary metric first, then
    `metrics` (the gate's, then the task's others) once each, as columns (MLflow's column
    ids), best run first."""
    metrics = list(dict.fromkeys([primary_metric, *metrics]))
    columns = [f"attributes.`{name}`" for name in RUNS_TABLE_ATTRIBUTES]
    columns += [f"metrics.`{name}`" for name in metrics]
    view = {
        "selectedColumns": columns,
        "columnOrder": columns,  # else metrics are alphabetical, and only the first few fit
        "orderByKey": f"metrics.`{primary_metric}`",
        "orderByAsc": not maximize,
    }
    return json.dumps(view, sort_keys=True)


def runs_page(experiment_id: str) -> str:
    """The UI's address of the project's runs table, relative to the UI's root."""
    query = f"{MODEL_TRAINING_MODE}&viewStateShareKey={RUNS_VIEW_KEY}"
    return f"/#/experiments/{experiment_id}/runs?{query}"
