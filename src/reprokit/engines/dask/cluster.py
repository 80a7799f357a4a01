"""Dask cluster lifecycle: a local cluster on loopback or a client of an existing scheduler.

The cluster lives exactly as long as one run: `dask_client` is a context manager that shuts
it down on success, on error and on KeyboardInterrupt, so no worker process outlives a run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from reprokit.config.models import EngineConfig
from reprokit.engines.errors import EngineError
from reprokit.logs import get_logger

log = get_logger(__name__)

# Settings every Dask process of a run shares (a local cluster's workers inherit them).
DASK_SETTINGS: dict[str, Any] = {
    # Strings as pandas' own `str` dtype, as the pandas engine reads them; Dask's default
    # (pyarrow strings with NA) would fail the schema's dtype checks.
    "dataframe.convert-string": False,
    # A task whose worker dies is retried on another worker this many times, then the run
    # fails with KilledWorker (named in the error).
    "distributed.scheduler.allowed-failures": 3,
    # Workers spill to disk before pausing; the run never silently drops data.
    "distributed.worker.memory.target": 0.6,
    "distributed.worker.memory.spill": 0.7,
    "distributed.worker.memory.pause": 0.85,
    # Dask's own INFO lines (every worker start and stop) would drown the run's log.
    "logging.distributed": "warning",
}
CONNECT_TIMEOUT = "30s"
WORKERS_TIMEOUT_S = 120  # worker processes import pandas, LightGBM and reprokit first


@contextmanager
def dask_client(config: EngineConfig) -> Iterator[Any]:
    """A `distributed.Client` for `config`, closed (and its local cluster stopped) after."""
    import dask

    # distributed loads its config defaults on first import. Imported inside the
    # `dask.config.set` below, they would be removed with it when the run ends (the set
    # restores the whole "distributed" section it found missing), and the next cluster in
    # this process would fail on a missing `distributed.comm...` key.
    import distributed  # noqa: F401

    from reprokit.engines.dask._api import client as connect
    from reprokit.engines.dask._api import local_cluster

    with ExitStack() as stack:
        stack.enter_context(dask.config.set(DASK_SETTINGS))
        logging.getLogger("distributed").setLevel(logging.WARNING)
        # Every shuffle (value counts, duplicate checks) logs two warnings that need no action.
        logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)
        if config.address is not None:
            try:
                client = stack.enter_context(connect(config.address, timeout=CONNECT_TIMEOUT))
            except OSError as error:
                raise EngineError(
                    f"engine.address {config.address!r}: cannot reach a Dask scheduler "
                    f"within {CONNECT_TIMEOUT} ({error}); expected a running scheduler "
                    "(`dask scheduler`), or engine.address=null for a local cluster"
                ) from None
            _wait_for_workers(client, 1, f"the scheduler at engine.address {config.address!r}")
            log.info("dask.connected", address=config.address, workers=_worker_count(client))
            yield client
            return
        cluster = stack.enter_context(
            local_cluster(
                n_workers=config.n_workers,
                threads_per_worker=config.threads_per_worker,
                memory_limit=config.memory_limit,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                # Loopback only: the workers' and LightGBM's sockets are never exposed.
                protocol="tcp",
            )
        )
        client = stack.enter_context(connect(cluster))
        # Every worker, before any work: the client returns as soon as the scheduler is up,
        # and training placed on the workers present then (none, or one of two) would fail
        # or train a different model than on the full cluster.
        _wait_for_workers(client, config.n_workers, "the local Dask cluster")
        log.info(
            "dask.cluster.start",
            workers=config.n_workers,
            threads_per_worker=config.threads_per_worker,
            memory_limit=config.memory_limit,
            scheduler=cluster.scheduler_address,
        )
        try:
            yield client
        finally:
            log.info("dask.cluster.stop", scheduler=cluster.scheduler_address)


def _wait_for_workers(client: Any, count: int, cluster: str) -> None:
    try:
        client.wait_for_workers(count, timeout=WORKERS_TIMEOUT_S)
    except TimeoutError:
        raise EngineError(
            f"{cluster}: {_worker_count(client)} of the {count} expected worker(s) connected "
            f"within {WORKERS_TIMEOUT_S} s; expected them running (check the workers' logs "
            "and memory)"
        ) from None


def _worker_count(client: Any) -> int:
    return len(client.scheduler_info().get("workers", {}))


def worker_addresses(client: Any) -> set[str]:
    """The addresses of the workers currently connected to the scheduler."""
    return set(client.scheduler_info(n_workers=-1).get("workers", {}))
