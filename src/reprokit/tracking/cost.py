"""The cost of an execution as MLflow metrics: `cost.<stage>.{cpu_s,wall_s,peak_rss_mb}` per
stage record and `cost.{cpu_s,wall_s,peak_rss_mb}` for the run (reprokit.core.cost says what
they measure). Like the `time.*` metrics they are measurements, never a result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reprokit.core.cost import StageCost, cost_metrics, record_costs, unattributed_process_cost

# The process that logs a `dvc repro` execution ran none of its stages: it is the `track`
# stage (the name dvcgen gives it), and what it cost up to logging is its cost.
LOGGING_STAGE = "track"


def execution_costs(records: Mapping[str, Mapping[str, Any]]) -> dict[str, StageCost]:
    """The stages' costs from their records, plus this process's own when it measured no
    execution itself (the `track` stage)."""
    costs = record_costs(records)
    own = unattributed_process_cost()
    if own is not None and LOGGING_STAGE not in costs:
        costs[LOGGING_STAGE] = own
    return costs


def execution_cost_metrics(records: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The metrics of `execution_costs`; none when no record carries a cost (records of an
    older reprokit). Measured when called: the `track` stage's own cost is up to then."""
    return cost_metrics(execution_costs(records))
