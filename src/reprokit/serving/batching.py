"""Adaptive batching of `Booster.predict` across concurrent requests, inside the worker.

Why not `@bentoml.api(batchable=True)`: BentoML batches the *inputs* of an API before
the API runs, concatenating the records of several requests into one call. One bad
record then raises for the whole batch (every neighbour would get the same error), and
the response context (status code, headers) is shared by the batch, so a per-request 422
naming that request's rows is impossible. BentoML's documented alternative, a batchable
API on a dependent service, moves scoring to a second process, adds a hop per request
and talks to it with BentoML's pickle serialization (`application/vnd.bentoml+pickle`),
which this project avoids (DESIGN.md, principle 9).

So each request is validated and turned into features on its own (its own 422), and
only the validated feature matrices are batched, with BentoML's own adaptive dispatcher
(`CorkDispatcher`, the one behind `batchable=True`: it learns the predict cost and waits
at most `max_latency_ms`). LightGBM scores rows independently, so a row's prediction in a
batch equals its prediction alone. The dispatcher sheds a request it expects to miss
`max_latency_ms` (BentoML's own batchable APIs answer 503 then); here the shed request is
scored alone instead: batching is an optimisation and never fails a request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from reprokit._compat.bentoml import cork_dispatcher
from reprokit.serving.bundle import Bundle, predict_matrix


class _ShedError(Exception):
    """The dispatcher gave up on a request (over its latency budget)."""


def _shed() -> Any:
    raise _ShedError


def split_rows(raw: np.ndarray[Any, Any], sizes: Sequence[int]) -> list[np.ndarray[Any, Any]]:
    """`raw` (rows stacked in `sizes` order) back into one array per request."""
    edges = np.cumsum(sizes)[:-1]
    return list(np.split(raw, edges, axis=0))


class PredictBatcher:
    """`await batcher.predict(matrix)` scores `matrix` in a batch with its neighbours."""

    def __init__(
        self,
        bundle: Bundle,
        max_batch_size: int,
        max_latency_ms: int,
        on_batch: Callable[[int], None] | None = None,
        on_shed: Callable[[], None] | None = None,
    ) -> None:
        self.bundle = bundle
        self.on_batch = on_batch  # called with the number of requests in each batch
        self.on_shed = on_shed  # called for each request the dispatcher gave up on
        self.shed = 0  # requests the dispatcher gave up on, scored alone
        # BentoML's own dispatcher (a private API: reprokit._compat.bentoml).
        dispatcher = cork_dispatcher(
            max_latency_ms=max_latency_ms,
            max_batch_size=max_batch_size,
            fallback=_shed,
            get_batch_size=lambda matrix: int(matrix.shape[0]),
        )
        self._dispatch: Callable[[Any], Any] = dispatcher(self._predict_many)

    async def _predict_many(self, matrices: Sequence[np.ndarray[Any, Any]]) -> Sequence[Any]:
        import anyio.to_thread

        sizes = [int(matrix.shape[0]) for matrix in matrices]
        if self.on_batch is not None:
            self.on_batch(len(sizes))
        stacked = np.concatenate(list(matrices), axis=0)
        # In a worker thread: LightGBM releases the GIL, the event loop keeps serving.
        raw = await anyio.to_thread.run_sync(predict_matrix, self.bundle, stacked)
        return split_rows(raw, sizes)

    async def predict(self, matrix: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        import anyio.to_thread

        try:
            result = await self._dispatch(matrix)
        except _ShedError:
            self.shed += 1
            if self.on_shed is not None:
                self.on_shed()
            result = await anyio.to_thread.run_sync(predict_matrix, self.bundle, matrix)
        return np.asarray(result, dtype=np.float64)
