"""Dask implementations of the built-in nodes whose pandas form would need the whole table.

Each function has the signature of the pandas node it stands in for (the runner binds the
same inputs and params by name) and returns the same kind of result: lazy Dask DataFrames
for tables, and the small results (feature state, model text, history, metrics) as the
pandas nodes return them. Only small results are computed to the client: counts, distinct
values, per-iteration losses, and the test split's labels and scores for exact metrics.
Row-wise work reuses the pandas code through `map_partitions`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from reprokit.config.models import FeaturesConfig, SchemaSpec, SplitConfig
from reprokit.engines.dask._api import compute
from reprokit.engines.dask.validation import ValidatedFrame
from reprokit.errors import DataError, LeakageError
from reprokit.logs import get_logger
from reprokit.nodes import features as pandas_features
from reprokit.nodes import parse_section, parse_task, preview, require_columns
from reprokit.nodes import split as pandas_split
from reprokit.schemas.build import as_schema_spec

log = get_logger(__name__)
SPLIT_COLUMN = "__reprokit_split__"
TRAIN, VALID, TEST = 0, 1, 2


def _frame(data: Any) -> Any:
    return data.frame if isinstance(data, ValidatedFrame) else data


def _require_columns(frame: Any, columns: list[str], dataset: str) -> None:
    # The frame's metadata (an empty pandas frame) has the columns: no data is read.
    require_columns(frame._meta, columns, dataset)


# --- ingest -------------------------------------------------------------------------------


def conform_to_schema(raw: Any, schema: Mapping[str, Any]) -> Any:
    """Columns in schema order (the index is not stored: every table is written without)."""
    frame = _frame(raw)
    columns = [column for column in as_schema_spec(schema).columns if column in frame.columns]
    return frame[columns]


# --- split --------------------------------------------------------------------------------


def split_frame(
    frame: Any,
    split: Mapping[str, Any],
    target: str,
    task: str,
    id_column: str | None,
) -> tuple[Any, Any, Any]:
    """Split into (train, valid, test) lazily; see the pandas `split_frame` for the rules.

    `time` and `group` splits are exactly the pandas engine's (their cut points come from
    small distributed summaries: distinct timestamps with counts, distinct groups).
    `stratified` splits each partition with the pandas code, partition ``i`` seeded with
    ``split.seed + i``: a one-partition table splits exactly as on pandas, a larger one
    with the same proportions per class (not the same rows).
    """
    table = _frame(frame)
    config = parse_section(SplitConfig, split, "split")
    parsed_task = parse_task(task)
    roles = [target, id_column, config.column]
    _require_columns(table, [c for c in roles if c is not None], pandas_split.DATASET)
    missing = {target: table[target].isna().sum()}
    if config.kind in ("time", "group"):
        missing[_role(config)] = table[_role(config)].isna().sum()
    (rows, counted) = compute(table.map_partitions(len).sum(), missing)
    if int(rows) == 0:
        raise DataError(f"{pandas_split.DATASET}: the frame has 0 rows; expected at least 1")
    for column, count in counted.items():
        if int(count):
            role = (
                "target"
                if column == target
                else ("timestamp" if config.kind == "time" else "group")
            )
            raise DataError(
                f"{pandas_split.DATASET}: {role} column {column!r} has {int(count)} missing "
                f"value(s) in {int(rows)} row(s); expected none (each row must be placed by it)"
            )

    if config.kind == "stratified":
        labelled = table.map_partitions(
            _stratified_labels,
            config.model_dump(),
            target,
            parsed_task,
            meta=_labelled_meta(table),
        )
    elif config.kind == "time":
        labelled = _time_labels(table, config, int(rows))
    else:
        labelled = _group_labels(table, config)

    parts = tuple(
        labelled[labelled[SPLIT_COLUMN] == code].drop(columns=[SPLIT_COLUMN])
        for code in (TRAIN, VALID, TEST)
    )
    sizes = compute(*(part.map_partitions(len).sum() for part in parts))
    train_rows, valid_rows, test_rows = (int(size) for size in sizes)
    log.info("dask.split", kind=config.kind, train=train_rows, valid=valid_rows, test=test_rows)
    for name, size in (("train", train_rows), ("test", test_rows)):
        if size == 0:
            raise DataError(
                f"split kind={config.kind} of {int(rows)} row(s) leaves {name} empty; "
                "expected at least 1 row in train and in test (more data or other sizes)"
            )
    if id_column is not None:
        _check_ids_disjoint(labelled, id_column)
    return parts


def _role(config: SplitConfig) -> str:
    if config.column is None:
        raise DataError(f"split kind={config.kind} needs split.column")
    return config.column


def _labelled_meta(table: Any) -> pd.DataFrame:
    meta: pd.DataFrame = table._meta
    return meta.assign(**{SPLIT_COLUMN: pd.Series(dtype="int8")})


def _stratified_labels(
    partition: pd.DataFrame,
    config: Mapping[str, Any],
    target: str,
    task: Any,
    partition_info: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The pandas engine's stratified cut of one partition, seeded by its position."""
    number = int(partition_info["number"]) if partition_info else 0
    parsed = SplitConfig.model_validate(config)
    seeded = parsed.model_copy(update={"seed": (parsed.seed + number) % 2**32})
    labels = np.full(len(partition), TRAIN, dtype=np.int8)
    if len(partition):
        _, valid, test = pandas_split.stratified_positions(
            partition.reset_index(drop=True), seeded, target, task
        )
        labels[valid] = VALID
        labels[test] = TEST
    return partition.assign(**{SPLIT_COLUMN: labels})


def _time_labels(table: Any, config: SplitConfig, rows: int) -> Any:
    """Cut points from distinct timestamps and their counts, then a filter per partition."""
    column = _role(config)
    counts = table[column].value_counts().compute().sort_index()
    stamps = counts.index.to_numpy()
    starts = np.concatenate([[0], np.cumsum(counts.to_numpy())[:-1]])

    def boundary(position: int) -> int:
        # The first position holding the timestamp found at `position` (ties stay together).
        return int(starts[np.searchsorted(starts, position, side="right") - 1])

    test_start = boundary(rows - math.ceil(config.test_size * rows))
    valid_start = test_start
    if config.valid_size > 0:
        wanted = test_start - math.ceil(config.valid_size * rows)
        valid_start = 0 if wanted < 0 else boundary(wanted)
    if valid_start == 0:
        raise DataError(
            f"time split on {column!r}: {rows} row(s) with {len(stamps)} distinct "
            f"timestamp(s) leave no row for train (test_size={config.test_size}, "
            f"valid_size={config.valid_size}); expected rows older than the valid and test cuts"
        )
    test_from = stamps[np.searchsorted(starts, test_start)]
    valid_from = stamps[np.searchsorted(starts, valid_start)]
    return table.map_partitions(
        _time_partition, column, valid_from, test_from, meta=_labelled_meta(table)
    )


def _time_partition(
    partition: pd.DataFrame, column: str, valid_from: Any, test_from: Any
) -> pd.DataFrame:
    values = partition[column].to_numpy()
    labels = np.where(values >= test_from, TEST, np.where(values >= valid_from, VALID, TRAIN))
    return partition.assign(**{SPLIT_COLUMN: labels.astype(np.int8)})


def _group_labels(table: Any, config: SplitConfig) -> Any:
    """The pandas engine's GroupShuffleSplit depends only on the sorted distinct groups."""
    from sklearn.model_selection import GroupShuffleSplit

    column = _role(config)
    groups = np.sort(table[column].drop_duplicates().compute().to_numpy())

    def cut(members: np.ndarray[Any, Any], size: float) -> tuple[Any, Any]:
        splitter = GroupShuffleSplit(n_splits=1, test_size=size, random_state=config.seed)
        try:
            kept, taken = next(splitter.split(members, groups=members))
        except ValueError as error:
            raise DataError(
                f"cannot split {len(members)} group(s) of column {column!r} with size "
                f"{size:.4g}: {error}; expected enough groups for train, valid and test"
            ) from None
        return members[kept], members[taken]

    rest, test = cut(groups, config.test_size)
    valid: np.ndarray[Any, Any] = np.empty(0, dtype=groups.dtype)
    if config.valid_size > 0:
        rest, valid = cut(rest, config.valid_size / (1.0 - config.test_size))
    return table.map_partitions(
        _group_partition, column, valid.tolist(), test.tolist(), meta=_labelled_meta(table)
    )


def _group_partition(
    partition: pd.DataFrame, column: str, valid: list[Any], test: list[Any]
) -> pd.DataFrame:
    values = partition[column]
    labels = np.where(values.isin(test), TEST, np.where(values.isin(valid), VALID, TRAIN))
    return partition.assign(**{SPLIT_COLUMN: labels.astype(np.int8)})


def _check_ids_disjoint(labelled: Any, id_column: str) -> None:
    """An id in two splits (a repeated id whose rows were split apart) is leakage."""
    pairs = (
        labelled[[id_column, SPLIT_COLUMN]]
        .dropna()
        .drop_duplicates(split_out=max(labelled.npartitions // 4, 1))
    )
    counts = pairs[id_column].value_counts(split_out=max(labelled.npartitions // 4, 1))
    shared = counts[counts > 1]
    total, examples = shared.size.compute(), shared.head(5, npartitions=-1)
    if int(total):
        raise LeakageError(
            f"id column {id_column!r}: {int(total)} value(s) appear in more than one of "
            f"train, valid and test {preview(sorted(examples.index.tolist()))}; each id value "
            "must be in exactly one split"
        )


# --- features -----------------------------------------------------------------------------


# Same bindings as the pandas node (inputs + params by name).
def fit_feature_state(  # noqa: PLR0917
    train: Any,
    features: Mapping[str, Any],
    schema: Mapping[str, Any],
    target: str,
    task: str,
    id_column: str | None,
    timestamp_column: str | None,
    group_column: str | None,
) -> dict[str, Any]:
    """The pandas node's state, its data-dependent parts from distributed aggregations.

    Column selection and every config check run in the pandas node itself, on a stand-in
    frame with the train split's columns and classes; the categories (value counts summed
    over partitions, folded by the same rule) and the target classes (distinct values)
    are then computed on the cluster. On the same train split the state is equal.
    """
    table = _frame(train)
    config = parse_section(FeaturesConfig, features, "features")
    spec = parse_section(SchemaSpec, schema, "data.schema")
    parsed_task = parse_task(task)
    _require_columns(table, [target], "train")
    categorical = _categorical_columns(
        config, spec, table, target, id_column, timestamp_column, group_column
    )

    summaries: dict[str, Any] = {
        "rows": table.map_partitions(len).sum(),
        "missing_target": table[target].isna().sum(),
        "counts": {
            column: table[column]
            .map_partitions(pandas_features.as_labels, meta=(column, object))
            .value_counts(dropna=True)
            for column in categorical
        },
    }
    if parsed_task != "regression":
        summaries["classes"] = table[target].dropna().drop_duplicates()
    (found,) = compute(summaries)
    rows = int(found["rows"])
    if rows == 0:
        raise DataError("train: the frame has 0 rows; expected at least 1")
    if int(found["missing_target"]):
        raise DataError(
            f"train: target {target!r} has {int(found['missing_target'])} missing value(s); "
            "expected none"
        )
    stand_in = _stand_in(table, target, found.get("classes"))
    state = pandas_features.fit_feature_state(
        stand_in, features, schema, target, task, id_column, timestamp_column, group_column
    )
    for column in state["categorical"]:
        state["categorical"][column], state["folded_categories"][column] = (
            pandas_features.fold_categories(
                found["counts"][column].to_dict(), rows, config.min_category_frequency
            )
        )
    return pandas_features.parse_state(state).model_dump(mode="json")


def _categorical_columns(  # noqa: PLR0917
    config: FeaturesConfig,
    spec: SchemaSpec,
    table: Any,
    target: str,
    id_column: str | None,
    timestamp_column: str | None,
    group_column: str | None,
) -> list[str]:
    """The categorical features the pandas node will select (checked there, fully)."""
    reserved = {target, id_column, timestamp_column, group_column} - {None}
    if config.categorical == "auto":
        chosen = [
            name
            for name, column in spec.columns.items()
            if pandas_features.is_categorical(column.dtype) and name not in reserved
        ]
    else:
        chosen = list(dict.fromkeys(config.categorical))
    return [c for c in chosen if c not in config.exclude and c in table.columns]


def _stand_in(table: Any, target: str, classes: Any) -> pd.DataFrame:
    """The train split's columns with one row per target class (or one row for regression).

    The pandas node reads only column presence, the target's distinct values and the
    categories from it; the categories are replaced by the distributed ones.
    """
    meta: pd.DataFrame = table._meta_nonempty
    values = classes.tolist() if classes is not None else meta[target].head(1).tolist()
    frame = meta.iloc[[0] * len(values)].reset_index(drop=True)
    frame[target] = pd.Series(values, dtype=meta[target].dtype)
    return frame


def transform_features(frame: Any, state: Mapping[str, Any]) -> Any:
    """The pandas transform on every partition (same code, same fitted state)."""
    table = _frame(frame)
    fitted = pandas_features.parse_state(state)
    _require_columns(table, fitted.input_columns, "transform input")
    meta = pandas_features.transform_features(table._meta, state)
    return table.map_partitions(
        pandas_features.transform_features, dict(state), meta=meta, enforce_metadata=False
    )
