"""The few Dask calls the engine makes, typed for the strict type checker.

dask and distributed ship partial annotations (untyped functions, implicit re-exports);
going through these wrappers keeps the engine's own code strictly typed.
"""

from __future__ import annotations

from typing import Any


def compute(*collections: Any, **kwargs: Any) -> Any:
    """`dask.compute`: many lazy results in one pass over their shared inputs."""
    import dask.base

    function: Any = dask.base.compute
    return function(*collections, **kwargs)


def delayed(value: Any, **kwargs: Any) -> Any:
    """`dask.delayed`."""
    import importlib

    # `dask.delayed` the attribute is the function; the module is only in sys.modules.
    function: Any = importlib.import_module("dask.delayed").delayed
    return function(value, **kwargs)


def wait(futures: Any) -> Any:
    """`distributed.wait`."""
    import distributed

    function: Any = distributed.wait
    return function(futures)


def client(address: Any, **kwargs: Any) -> Any:
    """A `distributed.Client` of a cluster object or a scheduler address."""
    import distributed

    factory: Any = distributed.Client
    return factory(address, **kwargs)


def local_cluster(**kwargs: Any) -> Any:
    """A `distributed.LocalCluster`."""
    import distributed

    factory: Any = distributed.LocalCluster
    return factory(**kwargs)
