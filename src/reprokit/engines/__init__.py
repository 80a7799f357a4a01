"""Execution engines: where the declared pipeline's nodes run and how its tables are held.

`local` (the default) runs every node in-process on pandas DataFrames, exactly as declared.
`dask` runs the same declared pipeline on a Dask cluster: it swaps the implementation of
the nodes that must differ (a registry keyed by the node's function path) and maps table
datasets to partitioned Parquet. Nothing heavy is imported until an engine is opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from reprokit.config.models import ReprokitConfig


class Engine(Protocol):
    """What the runner asks of an engine: an adapted pipeline and catalog config (pure
    transformations, same names), and a session to run them in."""

    def adapt_pipeline(self, pipeline: Any) -> Any:
        """The Kedro pipeline to run (same nodes, names, inputs and outputs)."""

    def adapt_catalog(self, entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The catalog config to build the Kedro catalog from (same dataset names)."""

    def session(self) -> AbstractContextManager[Any]:
        """Open for the run (a Dask cluster); closed on success, error or interrupt."""


class LocalEngine:
    """In-process pandas: the pipeline and catalog exactly as declared."""

    def adapt_pipeline(self, pipeline: Any) -> Any:
        return pipeline

    def adapt_catalog(self, entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return entries

    @contextmanager
    def session(self) -> Iterator[None]:
        yield


def engine_for(config: ReprokitConfig) -> Engine:
    """The configured engine (`engine.kind`); nothing starts until its session opens."""
    if config.engine.kind == "local":
        return LocalEngine()
    from reprokit.engines.dask.engine import DaskEngine

    return DaskEngine(config.engine)
