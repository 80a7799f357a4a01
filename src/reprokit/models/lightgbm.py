"""LightGBM behind the model seam: reproducible training to LightGBM's native model text.

Also the LightGBM side of distributed training on Dask (`fit_ranked`): it is the one place
that uses `lightgbm.dask`'s private API (`_train_part`, `_assign_open_ports_to_workers`),
pinned by lightgbm==4.7.0 in the lock and covered by tests/engines/test_dask_nodes.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from reprokit.config.models import LightGBMConfig
from reprokit.config.sections import parse_section
from reprokit.errors import ReprokitError
from reprokit.models.base import (
    Boosted,
    FeatureImportance,
    FeatureSpec,
    FloatArray,
    IterationObserver,
    IterationScore,
    MlflowFlavour,
    Split,
    Trained,
    check_objective,
    training_history,
)

VALID_NAME = "valid"
METRIC_BY_OBJECTIVE = {
    "binary": "binary_logloss",
    "multiclass": "multi_logloss",
    "regression": "rmse",
}
# LightGBM seeds are C ints; derived seeds stay in range whatever the configured seed.
_SEED_MODULUS = 2**31 - 1
_SEED_OFFSETS = {
    "seed": 0,
    "bagging_seed": 1,
    "feature_fraction_seed": 2,
    "data_random_seed": 3,
    "extra_seed": 4,
    "drop_seed": 5,
    "objective_seed": 6,
}
# After LightGBM's own callbacks (early stopping has order 30): a round that early stopping
# ends is not reported to an observer as a worse intermediate value.
OBSERVER_ORDER = 40
# Every LightGBM model text starts with its first line, "tree".
_TEXT_PREFIX = "tree\n"


class DistributedTrainingError(ReprokitError):
    """Distributed LightGBM training failed (a lost worker or a broken connection)."""


@dataclass(frozen=True)
class LightGBMPredictor:
    booster: Any

    @property
    def feature_names(self) -> list[str]:
        return list(self.booster.feature_name())

    def predict(self, matrix: FloatArray, num_threads: int | None = None) -> FloatArray:
        options = {} if num_threads is None else {"num_threads": num_threads}
        return np.asarray(self.booster.predict(matrix, **options), dtype=np.float64)

    def importance(self) -> FeatureImportance:
        return FeatureImportance(
            gain=np.asarray(self.booster.feature_importance("gain"), dtype=np.float64),
            split=np.asarray(self.booster.feature_importance("split"), dtype=np.int64),
        )


class LightGBMModel:
    """The `lightgbm` kind (conf/model/lightgbm.yaml)."""

    kind = "lightgbm"

    @property
    def requirement(self) -> str:
        import lightgbm as lgb

        return f"lightgbm=={lgb.__version__}"

    def fit(
        self,
        train: Split,
        valid: Split | None,
        state: FeatureSpec,
        params: Mapping[str, Any],
        *,
        num_threads: int = 0,
        observers: Sequence[IterationObserver] = (),
    ) -> Trained:
        """LightGBM on the train split, early-stopping on the valid split. The text is
        identical for identical inputs and for any `num_threads`."""
        import lightgbm as lgb

        config = parse_config(params, state)
        lgb_params = lightgbm_params(config, state, num_threads)
        train_set = lgb.Dataset(
            train.features,
            label=train.labels,
            feature_name=state.feature_names,
            categorical_feature=state.categorical_features,
        )
        history: dict[str, Any] = {}
        valid_sets: list[Any] = []
        own_callbacks: list[Any] = []
        if valid is not None:
            valid_sets.append(lgb.Dataset(valid.features, label=valid.labels, reference=train_set))
            own_callbacks.append(lgb.record_evaluation(history))
        early_stopping = valid is not None and config.early_stopping_rounds > 0
        if early_stopping:
            own_callbacks.append(
                lgb.early_stopping(
                    config.early_stopping_rounds, first_metric_only=True, verbose=False
                )
            )
        booster = lgb.train(
            lgb_params,
            train_set,
            num_boost_round=config.n_estimators,
            valid_sets=valid_sets,
            valid_names=[VALID_NAME] * len(valid_sets),
            callbacks=[*own_callbacks, *(_as_callback(observer) for observer in observers)],
            # Keep the training booster so its parameters can be reset below; a booster
            # rebuilt from a string crashes LightGBM 4.7 in reset_parameter.
            keep_training_booster=True,
        )
        # The text format records the parameters, num_threads included; pin it so the model
        # file is the same whatever thread count trained it (training itself is deterministic).
        booster.reset_parameter({"num_threads": 0})
        trained = int(booster.current_iteration())
        best = (
            int(booster.best_iteration)
            if early_stopping and booster.best_iteration > 0
            else trained
        )
        text = str(booster.model_to_string(num_iteration=best))
        metric = METRIC_BY_OBJECTIVE[config.objective]
        return Trained(
            artifact=text,
            history=training_history(
                Boosted(
                    best_iteration=best,
                    iterations_trained=trained,
                    early_stopping=early_stopping,
                    metric=metric,
                    valid_metric=history.get(VALID_NAME, {}).get(metric, []),
                    params={**lgb_params, "num_boost_round": config.n_estimators},
                ),
                state,
                train,
                valid,
            ),
        )

    def recognises(self, artifact: str) -> bool:
        return artifact.startswith(_TEXT_PREFIX)

    def load(self, artifact: str) -> LightGBMPredictor:
        import lightgbm as lgb

        return LightGBMPredictor(lgb.Booster(model_str=artifact))

    def mlflow_flavour(self, artifact: str) -> MlflowFlavour:
        return MlflowFlavour(
            module="mlflow.lightgbm",
            model=self.load(artifact).booster,
            # Not "model": that name is the catalog's model artifact folder in the same run.
            options={"name": "lightgbm_model", "pip_requirements": [self.requirement]},
        )


def _as_callback(observer: IterationObserver) -> Any:
    """A LightGBM callback reporting the first validation metric of each iteration."""

    def report(env: Any) -> None:
        if not env.evaluation_result_list:
            return  # no valid split: nothing to report
        _, metric, value, higher_is_better = env.evaluation_result_list[0][:4]
        observer(IterationScore(env.iteration, metric, float(value), bool(higher_is_better)))

    report.order = OBSERVER_ORDER  # type: ignore[attr-defined]  # LightGBM sorts callbacks by it
    return report


def lightgbm_params(config: LightGBMConfig, state: FeatureSpec, num_threads: int) -> dict[str, Any]:
    """The LightGBM parameters for `config`: objective, tree shape and reproducibility."""
    params: dict[str, Any] = {
        "objective": config.objective,
        "metric": METRIC_BY_OBJECTIVE[config.objective],
        "num_leaves": config.num_leaves,
        "learning_rate": config.learning_rate,
        "max_depth": config.max_depth,
        "min_data_in_leaf": config.min_child_samples,
        "feature_fraction": config.feature_fraction,
        "bagging_fraction": config.bagging_fraction,
        "bagging_freq": config.bagging_freq,
        "lambda_l1": config.lambda_l1,
        "lambda_l2": config.lambda_l2,
        # deterministic needs one forced histogram layout to be bit-for-bit stable.
        "deterministic": config.deterministic,
        "force_row_wise": config.histogram == "row_wise",
        "force_col_wise": config.histogram == "col_wise",
        "num_threads": num_threads,
        "verbosity": -1,
    }
    # Every random stream gets its own seed derived from the one configured seed, so no
    # stream falls back to a LightGBM default that could change between versions.
    for name, offset in _SEED_OFFSETS.items():
        params[name] = (config.seed + offset) % _SEED_MODULUS
    if config.objective == "multiclass":
        params["num_class"] = len(state.classes or [])
    return params


# --- distributed training on Dask (used by reprokit.engines.dask.training) ------------------

# LightGBM's defaults for the parameters that only describe where a model was trained.
_PORTABLE_PARAMETERS = {
    "num_threads": "0",
    "machines": "",
    "local_listen_port": "12400",
    "num_machines": "1",
    "time_out": "120",
}
# LightGBM's socket time-out between workers (minutes); a lost worker is caught sooner.
TIME_OUT_MINUTES = 10


def parse_config(params: Mapping[str, Any], state: FeatureSpec) -> LightGBMConfig:
    """The `model` section as LightGBM's config, its objective checked against the state."""
    config = parse_section(LightGBMConfig, params, "model")
    check_objective(config.objective, state)
    return config


def distributed_params(config: LightGBMConfig, state: FeatureSpec) -> dict[str, Any]:
    """LightGBM's parameters for data-parallel training."""
    lgb_params = lightgbm_params(config, state, 0)
    for key in ("num_threads", "num_class"):  # threads per worker; classes from the labels
        lgb_params.pop(key, None)
    lgb_params.update(tree_learner="data", n_estimators=config.n_estimators)
    return lgb_params


def fit_ranked(
    client: Any,
    parts: Mapping[str, list[Any]],
    task: str,
    params: dict[str, Any],
    held: list[Any],
    **fit_kwargs: Any,
) -> DistributedFit:
    """Data-parallel LightGBM with LightGBM rank ``r`` on the ``r``-th worker of `parts`
    (worker address -> futures of `{"data": features, "label": labels}` parts).

    `lightgbm.dask` orders its machines by a set of future keys, whose order changes from
    process to process; LightGBM's bins (each rank bins some features from its own rows)
    and so its model depend on which rank holds which rows. Fixing the order makes the
    model the same on every run with the same partitions and workers. The worker side is
    lightgbm.dask's own (`_train_part`: one LightGBM process per worker, on a free port
    found on that worker). The futures submitted are added to `held`.
    """
    from urllib.parse import urlparse

    import lightgbm as lgb
    from lightgbm.dask import _train_part

    factory = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
    ranked = list(parts)
    sockets, ports = _open_ports(client, ranked)
    machines = ",".join(f"{urlparse(worker).hostname}:{ports[worker]}" for worker in ranked)
    threads = client.ncores()
    futures = [
        client.submit(
            _train_part,
            model_factory=factory,
            params={**params, "num_threads": threads[worker]},
            list_of_parts=parts[worker],
            machines=machines,
            local_listen_port=ports[worker],
            num_machines=len(ranked),
            time_out=TIME_OUT_MINUTES,
            remote_socket=sockets[worker],
            return_model=rank == 0,
            workers=[worker],
            allow_other_workers=False,
            pure=False,
            **fit_kwargs,
        )
        for rank, worker in enumerate(ranked)
    ]
    held.extend(futures)
    try:
        _until_done_or_worker_lost(
            client,
            ranked,
            lambda: all(f.done() for f in futures) or any(f.status == "error" for f in futures),
        )
        estimator = client.gather(futures)[0]
    except lgb.basic.LightGBMError as error:
        raise DistributedTrainingError(
            f"distributed LightGBM training failed ({error}); a lost worker or a "
            "broken connection between workers stops it: rerun the pipeline"
        ) from error
    return DistributedFit(estimator.booster_)


LOST_WORKER_POLL_S = 1.0


def _open_ports(client: Any, workers: list[str]) -> tuple[Any, dict[str, int]]:
    """lightgbm.dask's port assignment, watched for a lost worker: it gathers a task pinned
    to each worker, which waits for good when that worker died (seen: a worker killed just
    before training hung the run). On a loss the waiting thread is left to end when the
    run's cluster closes."""
    from lightgbm.dask import _assign_open_ports_to_workers

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lightgbm-ports")
    assigned = pool.submit(_assign_open_ports_to_workers, client=client, workers=workers)
    try:
        _until_done_or_worker_lost(client, workers, assigned.done)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    sockets, ports = assigned.result()
    return sockets, ports


def _until_done_or_worker_lost(client: Any, workers: list[str], done: Callable[[], bool]) -> None:
    """Wait until `done()`; a worker of `workers` leaving the cluster fails the training.

    Each part is pinned to its worker (LightGBM's machine list names them): a part whose
    worker died is never rescheduled, and its peers wait for it up to LightGBM's time_out,
    so waiting for the results alone could hang for minutes, or for good."""
    while not done():
        alive = set(client.scheduler_info().get("workers", {}))
        lost = [worker for worker in workers if worker not in alive]
        if lost:
            raise DistributedTrainingError(
                f"distributed LightGBM training failed: worker {', '.join(lost)} was lost "
                "during training (killed or out of memory); rerun the pipeline"
            )
        time.sleep(LOST_WORKER_POLL_S)


@dataclass(frozen=True)
class DistributedFit:
    """The booster a distributed training returned."""

    booster: Any

    @property
    def iterations(self) -> int:
        return int(self.booster.current_iteration())

    def text(self, num_iteration: int | None = None) -> str:
        """The model text (cut at `num_iteration`), portable (`portable_model_text`)."""
        return portable_model_text(str(self.booster.model_to_string(num_iteration=num_iteration)))


def portable_model_text(text: str) -> str:
    """The model text without the run's network setup (random ports, worker addresses,
    threads per worker), as the pandas engine pins `num_threads`: the same trees give the
    same file. The `parameters:` block is informational; LightGBM reads only the trees."""
    for key, value in _PORTABLE_PARAMETERS.items():
        text = re.sub(rf"^\[{key}: [^\]\n]*\]$", f"[{key}: {value}]", text, flags=re.MULTILINE)
    return re.sub(r"^pandas_categorical:\[\]$", "pandas_categorical:null", text, flags=re.MULTILINE)


def raw_scores_per_iteration(text: str, matrix: FloatArray, iterations: int) -> list[FloatArray]:
    """The model's raw score after each of its first `iterations` iterations."""
    import lightgbm as lgb

    booster = lgb.Booster(model_str=text)
    scores: list[FloatArray] = []
    raw: FloatArray = np.zeros(0)
    for iteration in range(iterations):
        # One iteration's trees at a time: the running raw score is the model's at each size.
        step = np.asarray(
            booster.predict(matrix, start_iteration=iteration, num_iteration=1, raw_score=True)
        )
        raw = step if iteration == 0 else raw + step
        scores.append(raw)
    return scores
