"""Expand `reprokit run -m` arguments into jobs with Hydra's own override grammar.

Hydra's `BasicSweeper` expands choice lists, `range()` and `glob()` over config group
options (the group's options come from a Hydra config loader on `conf/`). Hydra's
launchers are not used: they run a `@hydra.main` task function with Hydra's job runtime,
while reprokit composes with the compose API and runs jobs itself (sequentially, in
worker processes with joblib, Hydra's joblib launcher's own library, or on the workers of a
Dask cluster with `hydra/launcher=dask`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprokit._compat.hydra import override_parser, sweep_jobs
from reprokit.errors import ConfigError

LAUNCHERS = ("basic", "joblib", "dask")
# Launchers that run jobs in parallel, so take `hydra.launcher.n_jobs`.
PARALLEL_LAUNCHERS = ("joblib", "dask")
SEE_GRAMMAR = "see https://hydra.cc/docs/advanced/override_grammar/extended/"


class SweepError(ConfigError):
    """A sweep's arguments cannot be expanded: names the override and what was expected."""


@dataclass(frozen=True)
class SweepPlan:
    """The jobs (each its own override list) and how to launch them."""

    jobs: list[list[str]]
    launcher: str = "basic"
    n_jobs: int | None = None  # joblib / local Dask workers; None = one per available core
    address: str | None = None  # dask: an existing scheduler's address; None = local cluster


def _clean(error: Exception) -> str:
    # Hydra's messages end with a link to its docs; one line of the actual problem is enough.
    lines = [line for line in str(error).splitlines() if not line.startswith("See https://")]
    return " ".join(line.strip() for line in lines if line.strip())


def parse_overrides(root: Path, arguments: Sequence[str]) -> list[Any]:
    """Parsed Hydra overrides; a malformed one is a `SweepError` naming it."""
    from hydra.errors import HydraException

    # A config loader on conf/ resolves `glob()` over config group options.
    parser = override_parser(root / "conf")
    parsed = []
    for argument in arguments:
        try:
            parsed.extend(parser.parse_overrides([argument]))
        except HydraException as error:
            raise SweepError(
                f"malformed override `{argument}`: {_clean(error)} ({SEE_GRAMMAR})"
            ) from None
    return parsed


@dataclass
class _Settings:
    launcher: str = "basic"
    n_jobs: int | None = None
    address: str | None = None
    # The override that set each setting, to name it in errors.
    given: dict[str, str] = field(default_factory=dict)


def _launcher_settings(hydra_overrides: list[Any]) -> _Settings:
    settings = _Settings()
    for override in hydra_overrides:
        key, text = override.get_key_element(), override.input_line
        value = override.value()
        if key == "hydra/launcher":
            if value not in LAUNCHERS:
                raise SweepError(
                    f"override `{text}`: unknown launcher {value!r}; "
                    f"expected one of {list(LAUNCHERS)}"
                )
            settings.launcher = str(value)
        elif key == "hydra.launcher.n_jobs":
            if not isinstance(value, int) or isinstance(value, bool) or value == 0 or value < -1:
                raise SweepError(
                    f"override `{text}`: n_jobs must be a positive integer or -1 (one per core)"
                )
            settings.n_jobs = None if value == -1 else value
        elif key == "hydra.launcher.address":
            if not isinstance(value, str) or not value.strip():
                raise SweepError(
                    f"override `{text}`: address must be a Dask scheduler's address, "
                    "e.g. tcp://scheduler:8786"
                )
            settings.address = value.strip()
        else:
            raise SweepError(
                f"override `{text}`: reprokit sweeps accept only "
                "`hydra/launcher=basic|joblib|dask`, `hydra.launcher.n_jobs=N` and (dask) "
                "`hydra.launcher.address=tcp://host:port` among Hydra's own settings"
            )
        settings.given[key] = text
    return settings


def _check_settings(settings: _Settings) -> None:
    launcher, given = settings.launcher, settings.given
    if settings.n_jobs is not None and launcher not in PARALLEL_LAUNCHERS:
        raise SweepError(
            f"override `{given['hydra.launcher.n_jobs']}`: `hydra.launcher.n_jobs` needs "
            "`hydra/launcher=joblib` or `hydra/launcher=dask`"
        )
    if settings.address is not None and launcher != "dask":
        raise SweepError(
            f"override `{given['hydra.launcher.address']}`: `hydra.launcher.address` needs "
            "`hydra/launcher=dask` (the scheduler the jobs are submitted to)"
        )
    if settings.address is not None and "hydra.launcher.n_jobs" in given:
        raise SweepError(
            f"override `{given['hydra.launcher.n_jobs']}`: n_jobs sizes a local Dask cluster; "
            f"with `{given['hydra.launcher.address']}` the scheduler's workers decide how "
            "many jobs run at once"
        )


def expand(root: Path, arguments: Sequence[str]) -> SweepPlan:
    """The cartesian product of the sweep overrides, in Hydra's order (BasicSweeper)."""
    from hydra.errors import HydraException

    parsed = parse_overrides(root, arguments)
    hydra = [o for o in parsed if o.is_hydra_override()]
    settings = _launcher_settings(hydra)
    _check_settings(settings)
    job_overrides = [o for o in parsed if not o.is_hydra_override()]
    for override in job_overrides:
        if override.is_sweep_override() and not override.is_discrete_sweep():
            raise SweepError(
                f"override `{override.input_line}`: {override.value_type.name.lower()} is a "
                "search space, not a list of jobs; `reprokit tune` searches it (a multirun "
                "needs choices, range() or glob())"
            )
    try:
        jobs = sweep_jobs(job_overrides)
    except HydraException as error:
        raise SweepError(f"cannot expand the sweep {list(arguments)}: {_clean(error)}") from None
    if not jobs:
        raise SweepError(f"the sweep {list(arguments)} expands to no job (an empty glob?)")
    return SweepPlan(
        jobs=jobs, launcher=settings.launcher, n_jobs=settings.n_jobs, address=settings.address
    )
