"""`batches`: every param, metric and tag logged once, in order, in as few `log_batch`
calls as MLflow's limits allow (each call is a store transaction)."""

from __future__ import annotations

import pytest

from reprokit.tracking.store import (
    MAX_BATCH_ENTRIES,
    MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
    batches,
)


@pytest.mark.parametrize(
    ("params", "metrics", "tags", "calls"),
    [
        (0, 0, 0, 0),
        (60, 150, 0, 1),  # the demo: ~60 params and a learning curve, one call (was three)
        (60, 150, 12, 1),
        (250, 10, 0, 3),
        (0, 2500, 0, 3),
        (100, 950, 100, 2),
    ],
)
def test_batches_respect_mlflows_limits_in_the_fewest_calls(
    params: int, metrics: int, tags: int, calls: int
) -> None:
    p, m, t = list(range(params)), list(range(metrics)), list(range(tags))
    made = list(batches(p, m, t))
    assert len(made) == calls
    assert [x for call in made for x in call[0]] == p
    assert [x for call in made for x in call[1]] == m
    assert [x for call in made for x in call[2]] == t
    for call_params, call_metrics, call_tags in made:
        assert len(call_params) <= MAX_BATCH_PARAMS and len(call_tags) <= MAX_BATCH_TAGS
        assert len(call_metrics) <= MAX_BATCH_METRICS
        assert len(call_params) + len(call_metrics) + len(call_tags) <= MAX_BATCH_ENTRIES
