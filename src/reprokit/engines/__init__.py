"""Execution engines: Kedro runners chosen by `engine.kind` through a public registry.

An engine is a Kedro runner: `local` (the default) runs every node in-process on pandas
DataFrames, exactly as declared; `dask` runs the same declared pipeline on a Dask cluster.
`reprokit run`, the DVC stages (`reprokit stage`) and `kedro run --runner=<runner>` all
hand the declared pipeline and catalog to one of these runners, so an engine behaves the
same whichever entry point starts it. A package adds its own engine without editing
reprokit: `register_engine("spark", "my_package.engine:SparkRunner")`, or an entry point
in the `reprokit.engines` group; `engine.kind: spark` then selects it. The factory is
called with the `engine` config section and returns the runner. Nothing heavy is imported
until a run selects an engine.
"""

from __future__ import annotations

from typing import Any

from reprokit.config.engines import ENGINES, RunnerFactory
from reprokit.config.models import EngineConfig

__all__ = ["ENGINES", "engine_runner", "register_engine", "registered_engines"]


def register_engine(kind: str, factory: RunnerFactory | str, *, replace: bool = False) -> None:
    """Make `engine.kind: <kind>` run with the Kedro runner `factory(engine=config)` builds.

    `factory` may be a `"module:attribute"` reference, imported when a run selects `kind`.
    """
    ENGINES.register(kind, factory, replace=replace)


def registered_engines() -> list[str]:
    """Every `engine.kind` available (registered in code or by an installed package)."""
    return ENGINES.kinds()


def engine_runner(config: EngineConfig) -> Any:
    """The Kedro runner of the configured engine; nothing starts until it runs.

    Raises:
        EngineKindError: No engine is registered as `engine.kind` (the message names the
            registered ones); config validation has checked it already.
    """
    return ENGINES.get(config.kind)(engine=config)
