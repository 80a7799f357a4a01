"""Training and scoring on the cluster: `lightgbm.dask`, and predictions per partition.

Scoring works for every learner (the model seam's `load_model`); distributed training is
LightGBM's (its LightGBM side, the private `lightgbm.dask` API included, lives in
`reprokit.models.lightgbm`); another `model.kind` fails with a clear EngineError.

`lightgbm.dask` trains data-parallel: every worker holding train partitions runs one
LightGBM process; they find each other on random free ports (LightGBM's default: each
worker binds port 0 and reports it) on the workers' own hosts, loopback for a local
cluster. It has no early stopping (LightGBM issue #3712; workers would disagree on when
to stop and hang), so training runs `n_estimators` rounds and early stopping is applied
afterwards with the same rule as `lightgbm.early_stopping`: the validation loss of every
iteration is summed over the valid partitions on the cluster, and the model is cut at the
best iteration. The result is LightGBM's native text model, like the pandas engine's.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from reprokit.config.models import DEFAULT_MODEL_KIND, EvaluationConfig
from reprokit.engines.dask._api import compute, delayed, wait
from reprokit.engines.dask.cluster import worker_addresses
from reprokit.engines.errors import EngineError
from reprokit.errors import DataError
from reprokit.logs import get_logger
from reprokit.models import lightgbm as lightgbm_model
from reprokit.models import load_model
from reprokit.models.base import recorded_curve
from reprokit.nodes import evaluate as pandas_evaluate
from reprokit.nodes import parse_section
from reprokit.nodes.features import FeatureState, parse_state

log = get_logger(__name__)
_EPSILON = 1e-15  # LightGBM's clipping of probabilities in its log-loss metrics
WATCH_SECONDS = 0.5
DISTRIBUTED_KINDS = ("lightgbm",)


def train_model(
    train: Any,
    valid: Any,
    state: Mapping[str, Any],
    model: Mapping[str, Any],
    num_threads: int,
) -> tuple[str, dict[str, Any]]:
    """Distributed LightGBM on the transformed train split; see the module docstring.

    `num_threads` is bound for the pandas node; on Dask each LightGBM process uses its
    worker's threads.

    Raises:
        ConfigError: The objective disagrees with the feature state's task.
        DataError: The train split is empty or lacks a feature.
        EngineError: `model.kind` has no distributed training, or a worker was lost during
            training (LightGBM cannot recover).
    """
    from distributed import get_client

    fitted = parse_state(state)
    require_distributed(str(model.get("kind", DEFAULT_MODEL_KIND)))
    config = lightgbm_model.parse_config(model, fitted)
    params = lightgbm_model.distributed_params(config, fitted)
    client: Any = get_client()
    workers = sorted(worker_addresses(client))
    if not workers:  # all lost since the cluster started (it waits for its workers)
        raise EngineError("distributed LightGBM training: no Dask worker is connected")
    table = _model_frame(_spread(train, len(workers)), fitted, "train features")
    valid_rows = int(compute(valid.map_partitions(len).sum())[0])
    # From placing the parts to the trained model, tasks are pinned to workers: a lost
    # worker must fail the run, never leave it waiting.
    with _fail_on_lost_worker(client) as held, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs.*")
        parts = _place(client, table, fitted, workers, held)
        train_rows = sum(client.gather([client.submit(_rows, part) for part in _all(parts)]))
        if train_rows == 0:
            raise DataError("train features: the frame has 0 rows; expected at least 1")
        log.info(
            "dask.train.start",
            rows=train_rows,
            partitions=table.npartitions,
            workers=len(parts),
            rounds=config.n_estimators,
        )
        try:
            fit = lightgbm_model.fit_ranked(
                client,
                parts,
                fitted.task,
                params,
                held,
                feature_name=fitted.feature_names,
                categorical_feature=fitted.categorical_features,
            )
        except lightgbm_model.DistributedTrainingError as error:
            raise EngineError(str(error)) from error
    trained = fit.iterations

    metric = lightgbm_model.METRIC_BY_OBJECTIVE[fitted.task]
    curve: list[float] = []
    best = trained
    early_stopping = int(valid_rows) > 0 and config.early_stopping_rounds > 0
    if int(valid_rows) > 0:
        losses = validation_curve(fit.text(), valid, fitted, trained)
        stop, best_index = early_stopping_point(losses, config.early_stopping_rounds)
        if early_stopping:
            best = best_index + 1
            curve = recorded_curve(losses[: stop + 1])
        else:
            curve = recorded_curve(losses)
    log.info("dask.train.done", trained=trained, best_iteration=best)
    return fit.text(num_iteration=best), {
        "best_iteration": best,
        "iterations_trained": trained,
        "early_stopping": early_stopping,
        "metric": metric,
        "valid_metric": curve,
        "num_features": len(fitted.feature_names),
        "train_rows": int(train_rows),
        "valid_rows": int(valid_rows),
        "params": {**params, "num_boost_round": config.n_estimators},
        "engine": {"kind": "dask", "workers": len(parts), "partitions": table.npartitions},
    }


def require_distributed(kind: str) -> None:
    """Only LightGBM trains on the cluster; say so rather than train something else."""
    if kind not in DISTRIBUTED_KINDS:
        raise EngineError(
            f"engine dask trains model.kind {list(DISTRIBUTED_KINDS)} only (data-parallel "
            f"through lightgbm.dask); model.kind is {kind!r}: run it with engine=local"
        )


def _spread(frame: Any, workers: int) -> Any:
    """At least one partition per worker, so every worker trains (data-parallel)."""
    if frame.npartitions >= workers:
        return frame
    return frame.repartition(npartitions=workers)


# Worker address -> futures of its training parts ({"data": features, "label": labels}).
Parts = dict[str, list[Any]]


def _place(
    client: Any, table: Any, state: FeatureState, workers: list[str], held: list[Any]
) -> Parts:
    """Compute the training partitions into worker memory: partition ``i`` on worker
    ``i mod n`` (workers sorted), as lightgbm.dask's part dicts.

    Left to data locality, every part of a small table lands on one worker and training
    runs serial; placed explicitly, every worker trains.
    """
    placed: Parts = {worker: [] for worker in workers}
    for index, partition in enumerate(table.to_delayed()):
        worker = workers[index % len(workers)]
        part = delayed(_training_part)(partition, state.feature_names, state.target, state.task)
        placed[worker].append(client.compute(part, workers=[worker]))
    held.extend(_all(placed))
    wait(_all(placed))
    return {worker: chunks for worker, chunks in placed.items() if chunks}


def _all(parts: Parts) -> list[Any]:
    return [part for chunks in parts.values() for part in chunks]


def _training_part(
    frame: pd.DataFrame, features: list[str], target: str, task: str
) -> dict[str, Any]:
    matrix, labels = _split_xy(frame, features, target, task)
    return {"data": matrix, "label": labels}


def _rows(part: dict[str, Any]) -> int:
    return len(part["label"])


def _model_frame(frame: Any, state: FeatureState, dataset: str) -> Any:
    """The features and the target as one collection.

    Features and labels are always split inside one task: two collections derived from
    the same table can be optimised into different partitionings.
    """
    columns = [*state.feature_names, state.target]
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataError(
            f"{dataset}: {len(missing)} required column(s) missing: {missing}; the frame has "
            f"{len(frame.columns)} column(s): {list(frame.columns)}"
        )
    return frame[columns]


def _split_xy(
    frame: pd.DataFrame, features: list[str], target: str, task: str
) -> tuple[pd.DataFrame, pd.Series]:
    labels = frame[target].astype("float64" if task == "regression" else "int64")
    return frame[features].astype("float64"), labels


@contextmanager
def _fail_on_lost_worker(client: Any) -> Iterator[list[Any]]:
    """Fail the training (rather than hang) when a worker leaves the cluster during it.

    Training pins one task to each worker; if that worker dies, the task can run nowhere
    else and the other workers wait on their LightGBM sockets. A watcher cancels the
    futures the caller adds to the yielded list and every other future of this client,
    which makes the waiting raise, and the error names the worker.
    """
    before = worker_addresses(client)
    held: list[Any] = []
    lost: list[str] = []
    done = threading.Event()

    def watch() -> None:
        # A worker counts as lost when two looks in a row miss it: once, under load, one
        # look missed both workers while they went on running (one of them logged after
        # the cancel), and a healthy training was failed.
        missed: set[str] = set()
        while not done.wait(WATCH_SECONDS):
            try:
                absent = before - worker_addresses(client)
            except Exception:  # the client is closing: nothing left to watch
                return
            gone, missed = absent & missed, absent
            if gone:
                lost.extend(sorted(gone))
                log.error("dask.worker.lost", workers=lost)
                from distributed import Future

                # Every future this client holds: ours, and lightgbm.dask's own (e.g. the
                # port each worker binds), any of which may be pinned to the lost worker.
                known: list[Any] = [Future(key, client) for key in list(client.futures)]
                client.cancel([*held, *known], force=True)
                return

    watcher = threading.Thread(target=watch, name="reprokit-dask-watch", daemon=True)
    watcher.start()
    try:
        yield held
    except BaseException as error:
        if lost:
            raise EngineError(
                f"Dask worker(s) {lost} left the cluster during distributed LightGBM "
                "training, which cannot continue without them; the run failed and wrote "
                "no model (rerun it; check the workers' memory_limit if they were killed)"
            ) from error
        raise
    finally:
        done.set()
        watcher.join()


# --- early stopping after training --------------------------------------------------------


def early_stopping_point(losses: np.ndarray[Any, Any], rounds: int) -> tuple[int, int]:
    """(iteration where `lightgbm.early_stopping` would stop, best iteration), 0-based.

    Lower is better and only a strict improvement counts, as in LightGBM's callback.
    """
    best_index = 0
    best_score = np.inf
    for index, score in enumerate(losses):
        if score < best_score:
            best_score, best_index = float(score), index
        elif rounds > 0 and index - best_index >= rounds:
            return index, best_index
    return len(losses) - 1, best_index


def validation_curve(
    text: str, valid: Any, state: FeatureState, iterations: int
) -> np.ndarray[Any, Any]:
    """The valid split's metric after each iteration (LightGBM's definition), distributed."""
    table = _model_frame(valid, state, "valid features")
    model = delayed(text, pure=True)
    parts = [
        delayed(_partition_losses)(
            part, state.feature_names, state.target, model, state.task, iterations
        )
        for part in table.to_delayed()
    ]
    results = compute(*parts)
    rows = sum(count for count, _ in results)
    total = np.sum([sums for _, sums in results], axis=0)
    if state.task == "regression":
        return np.asarray(np.sqrt(total / rows), dtype=np.float64)
    return np.asarray(total / rows, dtype=np.float64)


def _partition_losses(  # noqa: PLR0917
    frame: pd.DataFrame,
    features: list[str],
    target: str,
    text: str,
    task: str,
    iterations: int,
) -> tuple[int, np.ndarray[Any, Any]]:
    """Per iteration: the summed loss of this partition's rows (squared error for RMSE)."""
    x, y = _split_xy(frame, features, target, task)
    sums = np.zeros(iterations, dtype=np.float64)
    if len(x) == 0:
        return 0, sums
    matrix = x.to_numpy(dtype=np.float64, na_value=np.nan)
    labels = y.to_numpy()
    scores = lightgbm_model.raw_scores_per_iteration(text, matrix, iterations)
    for iteration, raw in enumerate(scores):
        sums[iteration] = _loss_sum(raw, labels, task)
    return len(x), sums


def _loss_sum(raw: np.ndarray[Any, Any], labels: np.ndarray[Any, Any], task: str) -> float:
    if task == "regression":
        return float(np.sum((raw - labels) ** 2))
    if task == "binary":
        probability = np.clip(1.0 / (1.0 + np.exp(-raw)), _EPSILON, 1.0 - _EPSILON)
        return float(-np.sum(labels * np.log(probability) + (1 - labels) * np.log(1 - probability)))
    shifted = raw - raw.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    true_class = probabilities[np.arange(len(labels)), labels.astype(np.int64)]
    return float(-np.sum(np.log(np.clip(true_class, _EPSILON, None))))


# --- scoring ------------------------------------------------------------------------------


def evaluate_model(
    model: str,
    test: Any,
    state: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    history: Mapping[str, Any] | None = None,
) -> tuple[dict[str, float], dict[str, pd.DataFrame], dict[str, Any]]:
    """The pandas node's metrics, tables and figures; predictions per partition.

    Only the test split's labels and scores (one or k floats per row) come to the client,
    so the metrics are exact (ROC AUC needs every score), computed by the pandas code.
    """

    fitted = parse_state(state)
    config = parse_section(EvaluationConfig, evaluation, "evaluation")
    predictor = load_model(model, fitted.feature_names)
    table = _model_frame(test, fitted, pandas_evaluate.DATASET)
    text = delayed(model, pure=True)
    parts = [
        delayed(_partition_scores)(part, fitted.feature_names, fitted.target, fitted.task, text)
        for part in table.to_delayed()
    ]
    scored = [part for part in compute(*parts) if len(part[0])]
    if not scored:
        raise DataError(f"{pandas_evaluate.DATASET}: the frame has 0 rows; expected at least 1")
    labels = np.concatenate([part[0] for part in scored])
    predictions = np.concatenate([part[1] for part in scored])
    metrics, tables, figures = pandas_evaluate.score_predictions(
        labels, predictions, predictor, fitted, config
    )
    pandas_evaluate.add_learning_curve(tables, figures, history)
    return metrics, tables, figures


def _partition_scores(
    frame: pd.DataFrame, features: list[str], target: str, task: str, text: str
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    x, y = _split_xy(frame, features, target, task)
    if len(x) == 0:
        return y.to_numpy(), np.empty(0, dtype=np.float64)
    matrix = x.to_numpy(dtype=np.float64, na_value=np.nan)
    return y.to_numpy(), load_model(text).predict(matrix)
