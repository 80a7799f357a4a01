"""The Dask engine (`engine=dask`): cluster lifecycle, Dask node implementations, tables
as partitioned Parquet. Imported only when a run selects it."""
