"""The Dask engine as a Kedro runner: `engine.kind: dask`, or `kedro run --runner=...`.

The runner takes the declared pipeline and catalog, whoever built them (`reprokit run`, a
DVC stage, Kedro's session), swaps in the Dask node implementations and Dask table
datasets (engine.py), and runs them with Kedro's sequential runner while a Dask cluster is
up (cluster.py): the cluster lives exactly as long as the run.
"""

from __future__ import annotations

from typing import Any

from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from reprokit.config.models import EngineConfig
from reprokit.engines.dask.cluster import dask_client
from reprokit.engines.dask.engine import adapt_catalog, adapt_pipeline
from reprokit.engines.errors import EngineError

RUNNER_PATH = "reprokit.engines.dask.DaskRunner"


class DaskRunner(SequentialRunner):
    """Run a pipeline on a Dask cluster. `engine` is the `engine` config section; without it
    (`kedro run --runner=reprokit.engines.dask.DaskRunner`) it is params.yaml's, which must
    select this engine: the run records the config it ran with."""

    def __init__(self, engine: EngineConfig | None = None, is_async: bool = False) -> None:
        super().__init__(is_async=is_async)
        self.engine = engine

    def run(
        self,
        pipeline: Any,
        catalog: Any,
        hook_manager: Any = None,
        run_id: str | None = None,
        only_missing_outputs: bool = False,
    ) -> dict[str, Any]:
        engine = self.engine or project_engine()
        adapted_pipeline = adapt_pipeline(pipeline)
        adapted_catalog = dask_catalog(catalog)
        with dask_client(engine):
            outputs: dict[str, Any] = super().run(
                adapted_pipeline, adapted_catalog, hook_manager, run_id, only_missing_outputs
            )
        return outputs


def dask_catalog(catalog: Any) -> Any:
    """`catalog` with its table datasets as Dask datasets (same names and paths); every
    in-memory dataset (params, a caller's values) carried over as it is."""
    entries, credentials, load_versions, save_version = catalog.to_config()
    adapted = DataCatalog.from_config(
        adapt_catalog(entries), credentials, load_versions, save_version
    )
    for name in catalog:
        if name not in entries:
            adapted[name] = catalog.get(name)
    return adapted


def project_engine() -> EngineConfig:
    """params.yaml's `engine` section, for a runner Kedro's CLI built without one."""
    from reprokit.config.compose import find_project_root, load_config

    engine = load_config(find_project_root()).engine
    if engine.kind != "dask":
        raise EngineError(
            f"--runner={RUNNER_PATH}: params.yaml has engine.kind={engine.kind!r}; compose "
            "it for this engine first (`reprokit config compose engine=dask`), so the run "
            "records the engine it ran on"
        )
    return engine
