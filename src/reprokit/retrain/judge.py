"""Both models scored on the batch's held-out rows, when the promotion rule could not compare
them (new data is a new test split): each with its own logged model and feature state, the
pipeline's feature and evaluation code, and this project's evaluation config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reprokit.errors import DataError
from reprokit.retrain.data import RetrainError
from reprokit.retrain.decision import Judgement, holdout, judge_on_holdout
from reprokit.tracking.promotion import REFUSE, Decision

if TYPE_CHECKING:
    import pandas as pd

    from reprokit.config.compose import Workspace


@dataclass(frozen=True)
class Batch:
    """The ids (`data.id_column`) that came with the batch and those the raw data held
    before it; None without an id column."""

    ids: pd.Series | None
    previous_ids: pd.Series | None


def metrics_on(
    workspace: Workspace, client: Any, run_id: str, rows: pd.DataFrame
) -> dict[str, float]:
    """The metrics of run `run_id`'s logged model on `rows` (raw columns, target included)."""
    from reprokit.monitoring.reference import run_reference
    from reprokit.nodes.evaluate import evaluate_model
    from reprokit.nodes.features import transform_features

    reference = run_reference(client, run_id, workspace.config.catalog)
    if reference.model is None or reference.state is None:
        raise RetrainError(f"run {run_id} has no logged model or feature state to score with")
    features = transform_features(rows, reference.state)
    metrics, _tables, figures = evaluate_model(
        reference.model, features, reference.state, workspace.params["evaluation"]
    )
    _close(figures)
    return metrics


def _close(figures: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    for figure in figures.values():
        plt.close(figure)


def _held_out(workspace: Workspace, batch: Batch) -> pd.DataFrame | None:
    from reprokit.config.roles import TEST_SPLIT, required_dataset
    from reprokit.io import read_table

    config = workspace.config
    id_column = config.data.id_column
    if id_column is None or batch.ids is None:
        return None
    entry = config.catalog[required_dataset(config.catalog, TEST_SPLIT)]
    test = read_table(workspace.root / str(entry["filepath"]))
    return holdout(test, id_column, batch.ids, batch.previous_ids)


def judge(
    workspace: Workspace, client: Any, name: str, run: Any, champion: str, *, batch: Batch
) -> tuple[Judgement, dict[str, Any]]:
    """The promotion rule on both models' metric over the batch's held-out rows, and the
    scores for the record. A holdout the metrics cannot be computed on (too few rows, one
    class) refuses, with the reason."""
    from reprokit.core.names import EVALUATION_TAG, MODEL_VERSION_TAG
    from reprokit.tracking.store import promotion_rule

    rule = promotion_rule(workspace.config)
    version = str(run.data.tags[MODEL_VERSION_TAG])
    champion_run = client.get_run(client.get_model_version(name, champion).run_id)
    rows = _held_out(workspace, batch)
    if rows is None:
        reason = (
            "data.id_column is unset: the batch's rows in the new test split cannot be told "
            "apart, so the models cannot be compared; set it, or `reprokit promote` by hand"
        )
        return Judgement(None, None, Decision(REFUSE, reason)), {}
    try:
        new = metrics_on(workspace, client, run.info.run_id, rows)
        old = metrics_on(workspace, client, champion_run.info.run_id, rows)
    except DataError as error:
        reason = f"cannot score both models on the batch's {len(rows)} held-out rows: {error}"
        return Judgement(None, None, Decision(REFUSE, reason)), {"rows": len(rows)}
    judgement = judge_on_holdout(
        version=version,
        champion=champion,
        challenger_value=new.get(rule.metric),
        champion_value=old.get(rule.metric),
        same_evaluation=champion_run.data.tags.get(EVALUATION_TAG)
        == run.data.tags.get(EVALUATION_TAG),
        rows=len(rows),
        rule=rule,
    )
    return judgement, {"rows": len(rows), "metric": rule.metric, "challenger": new, "champion": old}
