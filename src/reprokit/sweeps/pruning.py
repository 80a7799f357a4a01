"""Pruning `reprokit tune` trials: the learner reports each iteration's validation score to
the Optuna trial (through the model seam's `IterationObserver`, whatever `model.kind`),
and the study's pruner stops a trial that is clearly worse than the others at the same
iteration (Optuna's median rule by default), so its remaining rounds, evaluation and
tracking are not paid for.

The train node stays a pure function: the callback reaches it as an explicit keyword
argument (`callbacks`) bound by wrapping the node's function for one trial only.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from reprokit._compat.kedro import with_func
from reprokit.models.base import IterationObserver, IterationScore
from reprokit.sweeps.errors import TrialPrunedError

CALLBACKS_ARGUMENT = "callbacks"
PRUNERS = ("median", "none")


def make_pruner(name: str, warmup_steps: int = 10, startup_trials: int = 3) -> Any:
    """Optuna's pruner by name; `none` never prunes."""
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_steps)


def intermediate_score(value: float, higher_is_better: bool, maximize: bool) -> float:
    """The validation score in the study's direction: pruners compare intermediate values
    as they compare objectives (a minimised log loss reported to a maximised ROC AUC study
    must be negated)."""
    return value if higher_is_better == maximize else -value


def pruning_callback(trial: Any, maximize: bool) -> IterationObserver:
    """An observer reporting the first validation metric of each iteration to `trial`."""

    def report(score: IterationScore) -> None:
        value = intermediate_score(score.value, score.higher_is_better, maximize)
        trial.report(value, step=score.iteration)
        if trial.should_prune():
            raise TrialPrunedError(
                f"trial {trial.number} pruned at iteration {score.iteration + 1}: "
                f"valid {score.metric} {score.value:.6g} is behind the other trials at that "
                "iteration"
            )

    return report


def takes_callbacks(function: Callable[..., Any]) -> bool:
    parameter = inspect.signature(function).parameters.get(CALLBACKS_ARGUMENT)
    return parameter is not None and parameter.kind is inspect.Parameter.KEYWORD_ONLY


def with_callbacks(function: Callable[..., Any], callbacks: Sequence[Any]) -> Callable[..., Any]:
    """`function` with `callbacks` bound; same module and name, so engines still map it."""

    @functools.wraps(function)
    def bound(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs, callbacks=tuple(callbacks))

    return bound


def node_callbacks_adapter(callbacks: Sequence[Any]) -> Callable[[Any], Any]:
    """A pipeline transform binding `callbacks` into every node that takes them."""

    def adapt(pipeline: Any) -> Any:
        from kedro.pipeline import Pipeline

        return Pipeline(
            [
                with_func(node, with_callbacks(node.func, callbacks))
                if takes_callbacks(node.func)
                else node
                for node in pipeline.nodes
            ]
        )

    return adapt
