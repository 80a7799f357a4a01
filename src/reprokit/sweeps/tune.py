"""`reprokit tune`: Bayesian search with Optuna over Hydra-style search spaces.

Hydra's Optuna sweeper pins optuna<3 (this project locks optuna 5), so Optuna is used
directly, with Hydra's override grammar for the search space:

- `key=int(range(a,b[,step]))` or `key=range(a,b)`: integers a..b-1 (Python's range);
- `key=interval(a,b)`: floats in [a, b]; `key=tag(log,interval(a,b))`: log scale;
- `key=choice(x,y,z)` or `key=x,y,z` or `group=glob(*)`: categorical;
- `key=value`: fixed for every trial.

The sampler is TPE seeded with the config's `seed`; the study lives in an Optuna RDB
storage (SQLite under `.reprokit/` by default), so an interrupted search resumes with the
same study name, and `--trials` is the study's total budget. Each trial is a sweep job:
in-process, with node reuse (the upstream nodes run once for the whole search), logged as a
child MLflow run under the study's parent run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprokit.core.names import OPTUNA_TRIAL_TAG
from reprokit.errors import ConfigError
from reprokit.logs import get_logger
from reprokit.sweeps.expand import SweepError, parse_overrides
from reprokit.sweeps.jobs import PRUNED, SWEEPS_DIR, JobSpec, run_job
from reprokit.sweeps.summary import Ranking, Row, render
from reprokit.sweeps.track import SweepTracker, child_rows, row_of

log = get_logger(__name__)

ENTRY_POINT = "reprokit tune"
DEFAULT_STORAGE = ".reprokit/optuna.db"
PARENT_ATTR = "reprokit_parent_run_id"
Say = Callable[[str], None]


@dataclass(frozen=True)
class Dimension:
    """One searched key: kind is int, float or categorical."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    choices: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "low": self.low,
            "high": self.high,
            "step": self.step,
            "log": self.log,
            "choices": list(self.choices),
        }


@dataclass
class SearchSpace:
    dimensions: list[Dimension] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _dimension(override: Any) -> Dimension:
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    key, text, value = override.get_key_element(), override.input_line, override.value()
    log_scale = "log" in getattr(value, "tags", set())
    if isinstance(value, IntervalSweep):
        start, end = value.start, value.end
        if start is None or end is None or start >= end:
            raise SweepError(f"override `{text}`: interval(a,b) needs a < b")
        if log_scale and start <= 0:
            raise SweepError(f"override `{text}`: a log-scale interval must be above 0")
        as_int = _is_int(start) and _is_int(end)
        kind = "int" if as_int else "float"
        return Dimension(key, kind, float(start), float(end), log=log_scale)
    if isinstance(value, RangeSweep):
        values = list(override.sweep_iterator())
        if not values:
            raise SweepError(f"override `{text}`: the range is empty")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise SweepError(f"override `{text}`: a range must be numeric")
        kind = "int" if all(_is_int(v) for v in values) else "float"
        step = float(value.step) if len(values) > 1 else None
        return Dimension(key, kind, float(values[0]), float(values[-1]), step=step, log=log_scale)
    if isinstance(value, ChoiceSweep):
        choices = tuple(override.sweep_string_iterator())
        if not choices:
            raise SweepError(f"override `{text}`: no choices (an empty glob?)")
        return Dimension(key, "categorical", choices=choices)
    raise SweepError(f"override `{text}`: cannot search {type(value).__name__}")


def search_space(root: Path, arguments: Sequence[str]) -> SearchSpace:
    """The dimensions and fixed overrides; errors name the override."""
    space = SearchSpace()
    for override in parse_overrides(root, arguments):
        if override.is_hydra_override():
            raise SweepError(
                f"override `{override.input_line}`: `reprokit tune` runs trials one after "
                "another (TPE learns from each) and takes no Hydra launcher settings"
            )
        if override.is_sweep_override():
            space.dimensions.append(_dimension(override))
        else:
            space.fixed.append(str(override.input_line))
    if not space.dimensions:
        raise SweepError(
            "nothing to search: give at least one range, e.g. "
            "model.num_leaves='int(range(8,128))' or model.learning_rate='interval(0.01,0.3)'"
        )
    return space


def _format(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def suggest(trial: Any, dimension: Dimension) -> str:
    """The trial's value for a dimension, as a Hydra override."""
    if dimension.kind == "int":
        step = int(dimension.step) if dimension.step else 1
        value: Any = trial.suggest_int(
            dimension.key, int(dimension.low), int(dimension.high), step=step, log=dimension.log
        )
    elif dimension.kind == "float":
        value = trial.suggest_float(
            dimension.key, dimension.low, dimension.high, step=dimension.step, log=dimension.log
        )
    else:
        value = trial.suggest_categorical(dimension.key, list(dimension.choices))
    return f"{dimension.key}={_format(value)}"


def default_study_name(space: SearchSpace, pipelines: Sequence[str]) -> str:
    from reprokit.core.content.params import canonical_hash

    described = {
        "dimensions": [d.describe() for d in space.dimensions],
        "fixed": space.fixed,
        "pipelines": list(pipelines),
    }
    return f"tune-{canonical_hash(described)[:10]}"


def default_storage(root: Path) -> str:
    path = root / DEFAULT_STORAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _close_stale_trials(study: Any) -> int:
    """Trials left RUNNING by an interrupted search count as failed, so resuming does not
    wait for them forever (their budget is spent)."""
    from optuna.trial import TrialState

    stale = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    for trial in stale:
        study.tell(trial.number, state=TrialState.FAIL)
    return len(stale)


def _finished(study: Any) -> int:
    from optuna.trial import TrialState

    done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state in done)


def _sampler(seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed)


def open_study(name: str, storage: str, seed: int, ranking: Ranking, pruner: str = "median") -> Any:
    import optuna

    from reprokit.sweeps.pruning import make_pruner

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=_sampler(seed),
            pruner=make_pruner(pruner),
            direction="maximize" if ranking.direction == "maximize" else "minimize",
            load_if_exists=True,
        )
    except ValueError as error:  # e.g. the stored study optimises the other direction
        raise ConfigError(f"optuna study {name!r} in {storage}: {error}") from None


def run_tune(
    root: Path,
    arguments: Sequence[str],
    *,
    trials: int,
    study_name: str | None,
    storage: str | None,
    pipelines: Sequence[str],
    say: Say,
    out: Any = None,
    pruner: str = "median",
) -> list[Row]:
    from reprokit.sweeps.composer import Composer
    from reprokit.sweeps.jobs import compose_job
    from reprokit.sweeps.multirun import ensure_inputs

    space = search_space(root, arguments)
    composer = Composer(root)  # trials differ in values: Hydra reads conf/ once
    base = compose_job(root, space.fixed, composer=composer)  # a bad one fails before any trial
    ensure_inputs([base])
    ranking = Ranking.of(base.config)
    name = study_name or default_study_name(space, pipelines)
    url = storage or default_storage(root)
    study = open_study(name, url, base.config.seed, ranking, pruner)
    stale = _close_stale_trials(study)
    done = _finished(study)
    if done:
        # A resumed search must not replay the seeded sampler's first draws (they would
        # repeat trials already run): offset the seed by the trials done, deterministically.
        study.sampler = _sampler(base.config.seed + done)
    remaining = max(0, trials - done)
    say(
        f"study {name} ({url}): {done} trials done"
        + (f" ({stale} interrupted, counted failed)" if stale else "")
        + f", {remaining} to run; ranking by {ranking.metric} ({ranking.direction})"
    )
    tracker = None
    if base.config.tracking.enabled:
        tracker = SweepTracker(base, name, list(arguments), ENTRY_POINT, ranking)
        parent = tracker.start(existing_parent=_existing_parent(study, tracker))
        study.set_user_attr(PARENT_ATTR, parent)
        say(f"parent run {parent}")
    rows: list[Row] = []
    try:
        for _ in range(remaining):
            rows.append(
                _one_trial(
                    study,
                    space,
                    root=root,
                    name=name,
                    pipelines=pipelines,
                    tracker=tracker,
                    ranking=ranking,
                    composer=composer,
                )
            )
            say(_trial_line(study, rows[-1], ranking, _finished(study), trials))
    except BaseException as error:
        if tracker is not None:
            tracker.fail(error)
        raise
    if tracker is not None:
        rows = child_rows(tracker.client, tracker.experiment, name) or rows
        tracker.finish(rows, f"tune {name}")
    if out is not None:
        render(rows, ranking, out, f"tune {name}")
    return rows


def _existing_parent(study: Any, tracker: SweepTracker) -> str | None:
    """The study's parent run, if it is still in this tracking store."""
    from mlflow.exceptions import MlflowException

    run_id = study.user_attrs.get(PARENT_ATTR)
    if not run_id:
        return None
    try:
        tracker.connect().get_run(run_id)
    except MlflowException:
        return None
    return str(run_id)


def _one_trial(
    study: Any,
    space: SearchSpace,
    *,
    root: Path,
    name: str,
    pipelines: Sequence[str],
    tracker: SweepTracker | None,
    ranking: Ranking,
    composer: Any = None,
) -> Row:
    from optuna.trial import TrialState

    from reprokit.sweeps.pruning import node_callbacks_adapter, pruning_callback

    trial = study.ask()
    try:
        overrides = [*space.fixed, *(suggest(trial, d) for d in space.dimensions)]
        maximize = ranking.direction == "maximize"
        spec = JobSpec(
            index=trial.number,
            overrides=tuple(overrides),
            root=root,
            job_dir=root / SWEEPS_DIR / name / f"trial-{trial.number}",
            pipelines=tuple(pipelines),
            adapt=node_callbacks_adapter([pruning_callback(trial, maximize)]),
            workspace=_composed(root, overrides, composer),
        )
        result = run_job(spec)
        run_id = tracker.log_job(result) if tracker is not None else None
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        raise
    value = result.metrics.get(ranking.metric)
    if result.status == PRUNED:
        study.tell(trial, state=TrialState.PRUNED)
    elif result.status == "FINISHED" and value is not None and not math.isnan(value):
        study.tell(trial, value)
    else:
        study.tell(trial, state=TrialState.FAIL)
    if run_id is not None:
        assert tracker is not None
        tracker.connect().set_tag(run_id, OPTUNA_TRIAL_TAG, str(trial.number))
    return row_of(result, run_id)


def _composed(root: Path, overrides: Sequence[str], composer: Any) -> Any:
    """The trial's workspace, or None when it does not compose: then the job composes it
    again and reports the error as the trial's."""
    from reprokit.errors import ReprokitError
    from reprokit.sweeps.jobs import compose_job

    try:
        return compose_job(root, overrides, composer=composer)
    except ReprokitError:
        return None


def _trial_line(study: Any, row: Row, ranking: Ranking, done: int, total: int) -> str:
    value = row.metrics.get(ranking.metric)
    shown = f"{ranking.metric}={value:.6g}" if value is not None else row.error or "no metric"
    try:
        best = f"; best so far {study.best_value:.6g} (trial {study.best_trial.number})"
    except ValueError:  # no completed trial yet
        best = ""
    return (
        f"[{done}/{total}] trial {row.job} {row.status}: {' '.join(row.overrides)} -> {shown}{best}"
    )
