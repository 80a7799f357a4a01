"""The Dask engine (`engine=dask`): cluster lifecycle, Dask node implementations, tables
as partitioned Parquet. Its runner is `reprokit.engines.dask.DaskRunner`
(`kedro run --runner=reprokit.engines.dask.DaskRunner`); dask itself is imported only when
a run starts."""

from reprokit.engines.dask.engine import register_dask_node
from reprokit.engines.dask.runner import DaskRunner

__all__ = ["DaskRunner", "register_dask_node"]
