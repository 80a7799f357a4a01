"""Point-in-time correct training sets: Feast's historical retrieval over the feature view.

An entity table lists the training examples: an id, the time the example happened (the
data's timestamp column) and, optionally, its label (the data's target). Each row gets the
feature values its entity had at that time: the newest table row with an event time at or
before it, never a later one, so a value recorded after the example cannot leak into
training. `entity_frame` and `training_frame` are pure; `training_set` runs Feast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pandas as pd

from reprokit.config.models import ReprokitConfig
from reprokit.core.fs import atomic_path
from reprokit.feature_store.spec import FeatureRepo, feature_repo
from reprokit.feature_store.store import FeatureStoreError, definitions, open_store

# Feast's name for the entity dataframe's time column (it would otherwise guess it from the
# dtypes, and the view's own timestamp field may share the data's column name).
EVENT_TIMESTAMP = "event_timestamp"
# One time unit on both sides of the join (Feast's answer need not keep the input's unit).
UTC_NS: Final = "datetime64[ns, UTC]"


def entity_frame(
    entities: pd.DataFrame, repo: FeatureRepo, target: str, source: str
) -> pd.DataFrame:
    """The training examples as (id, event_timestamp in UTC[, label]) from a table with the
    data's id and timestamp columns and, optionally, its target."""
    required = [repo.id_column, repo.timestamp_column]
    missing = [name for name in required if name not in entities.columns]
    if missing:
        raise FeatureStoreError(
            f"entity table {source} lacks column(s) {missing}: it needs {required} "
            f"(and optionally the label {target!r}), one row per training example"
        )
    times = pd.to_datetime(entities[repo.timestamp_column], errors="coerce")
    if times.isna().any():
        rows = entities.index[times.isna()].tolist()[:5]
        raise FeatureStoreError(
            f"entity table {source}: column {repo.timestamp_column!r} has empty or unparsable "
            f"times at rows {rows}; every training example needs its time"
        )
    # The pipeline's tables hold naive UTC times (as Feast reads the Parquet source).
    utc = times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")
    frame = pd.DataFrame(
        {repo.id_column: entities[repo.id_column].to_numpy(), EVENT_TIMESTAMP: utc.astype(UTC_NS)}
    )
    if target in entities.columns:
        frame[target] = entities[target].to_numpy()
    return frame


def feast_query(frame: pd.DataFrame, repo: FeatureRepo) -> pd.DataFrame:
    """The distinct (id, time) pairs: Feast keeps one row per pair (it drops duplicates on
    them), so the examples are joined back onto its answer rather than sent as they are."""
    return frame[[repo.id_column, EVENT_TIMESTAMP]].drop_duplicates(ignore_index=True)


def training_frame(
    frame: pd.DataFrame, joined: pd.DataFrame, columns: list[str], repo: FeatureRepo
) -> pd.DataFrame:
    """Every example of `frame`, in its order, with the features Feast found for its (id,
    time). Feast leaves out a pair whose entity has only later values; such an example stays,
    with null features, rather than vanishing from the training set. The time is under the
    data's column name (naive UTC, as in the pipeline's tables) and the columns in the
    table's order, so the training set reads like the table it was drawn from."""
    keys = [repo.id_column, EVENT_TIMESTAMP]
    features = joined.drop(
        columns=[c for c in frame.columns if c in joined.columns and c not in keys]
    )
    features = features.assign(**{EVENT_TIMESTAMP: features[EVENT_TIMESTAMP].astype(UTC_NS)})
    merged = frame.merge(features, on=keys, how="left", validate="many_to_one")
    merged[repo.timestamp_column] = merged[EVENT_TIMESTAMP].dt.tz_localize(None)
    return merged[[name for name in columns if name in merged.columns]]


def read_entities(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FeatureStoreError(
            f"entity table {path} does not exist: give a Parquet file of (id, time[, label]) rows"
        )
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as error:
        raise FeatureStoreError(
            f"entity table {path} is not a readable Parquet file: {error}"
        ) from error


def training_set(
    config: ReprokitConfig, root: Path, entities: pd.DataFrame, source: str
) -> pd.DataFrame:
    """The feature service's values for each entity row as of that row's time (Feast's
    point-in-time join over the offline table), with the row's label when it has one."""
    repo = feature_repo(config)
    if repo.generated_time:
        # The config refuses training_entities then; this is `features training-set` by hand.
        raise FeatureStoreError(
            f"data {config.data.name!r} has no data.timestamp_column: a point-in-time "
            f"training set needs each row's real event time (feature_store.training_entities)"
        )
    frame = entity_frame(entities, repo, config.data.target, source)
    store = open_store(config, root)
    # Historical retrieval reads the views from the registry: register the generated ones
    # (the same objects `materialize` applies, so this changes nothing it relies on).
    store.apply(definitions(root))
    service = store.get_feature_service(repo.service)
    joined = store.get_historical_features(
        entity_df=feast_query(frame, repo), features=service
    ).to_df()
    return training_frame(frame, joined, list(config.data.schema_.columns), repo)


def write_training_set(config: ReprokitConfig, root: Path, entities: Path, out: Path) -> int:
    """`reprokit features training-set`: the point-in-time table as Parquet; its row count."""
    table = training_set(config, root, read_entities(entities), str(entities))
    with atomic_path(out) as tmp:
        table.to_parquet(tmp, index=False)
    return len(table)
