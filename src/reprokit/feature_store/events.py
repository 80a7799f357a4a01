"""Event times for data without a timestamp column (Feast needs one on every row).

The rule: row i of the pipeline's table gets EVENT_TIME_BASE + i seconds. It is a pure
function of the table's rows and their order (no wall clock), so the same table gives the
same bytes, and it orders every row: an id's latest row, the one Feast's materialization
keeps online, is its last row in the table, exactly the record a caller would send for it
(duplicated ids: the last row wins). Appended rows come after every earlier one, so the
incremental plan loads only them; a changed, removed or inserted row changes the settled
rows' digest and the store is rebuilt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from reprokit.core.fs import atomic_path
from reprokit.feature_store.spec import FeatureRepo

# Not the epoch: Feast stamps an unknown id's answer with time 0, which is how the online
# lookup tells it from a known one (row 0 at the epoch would read as unknown). Whole
# seconds apart, as the online store keeps event times (a sub-second part is dropped).
EVENT_TIME_BASE = pd.Timestamp("2000-01-01")


def event_times(rows: int) -> pd.Series:
    """The generated event times of a table of `rows` rows, in row order (naive UTC, as
    the pipeline's tables hold their times)."""
    return pd.Series(EVENT_TIME_BASE + pd.to_timedelta(np.arange(rows), unit="s"))


def event_table(table: pd.DataFrame, repo: FeatureRepo) -> pd.DataFrame:
    """The offline source of a repo with a generated time: the id and the view's features
    (never the target) of `table`, in its row order, plus the event-time column."""
    columns = [repo.id_column, *(feature.name for feature in repo.features)]
    frame = table[columns].reset_index(drop=True)
    frame[repo.timestamp_column] = event_times(len(frame))
    return frame


def source_table(root: Path, repo: FeatureRepo) -> pd.DataFrame:
    """The table Feast's source reads, as `materialize` loads it: the pipeline's table, or
    (generated time) the event table derived from it, written to repo.source first."""
    table = pd.read_parquet(root / repo.table)
    if not repo.generated_time:
        return table
    events = event_table(table, repo)
    with atomic_path(root / repo.source) as tmp:
        events.to_parquet(tmp, index=False)
    return events
