"""What the feature repo declares, decided from the validated config alone (no Feast)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from reprokit.config.models import GENERATED_EVENT_TIME, ReprokitConfig

# The DVC stage that fills the online store (reprokit.dvcgen renders it).
STAGE = "materialize"
# The DVC stage that writes the point-in-time training set (feature_store.training_entities).
TRAINING_STAGE = "training_set"
# The generated Feast repo, relative to the project root. Feast resolves the relative paths
# in it (registry, SQLite file, Parquet source) against this folder.
REPO_DIR = "feature_repo"
STORE_FILE = f"{REPO_DIR}/feature_store.yaml"
DEFINITIONS_FILE = f"{REPO_DIR}/features.py"
# Feast's registry (a protobuf file) and the `materialize` stage's record, both local state.
STATE_DIR = "data/feature_store"
REGISTRY_FILE = f"{STATE_DIR}/registry.db"
# The stage's out: what it materialized (deterministic, so dvc.lock stays stable).
MATERIALIZED_FILE = f"{STATE_DIR}/materialized.json"
# For data without a timestamp column: the offline source Feast reads, the table's id and
# features plus a generated event time (reprokit.feature_store.events), written by the
# `materialize` stage (its out, so DVC orders and records it).
EVENT_TABLE_FILE = f"{STATE_DIR}/event_table.parquet"

# data.schema dtype -> the name of Feast's type (feast.types).
FEAST_TYPES = {
    "int64": "Int64",
    "float64": "Float64",
    "str": "String",
    "bool": "Bool",
    "datetime64[ns]": "UnixTimestamp",
}


@dataclass(frozen=True)
class Feature:
    name: str
    feast_type: str


@dataclass(frozen=True)
class FeatureRepo:
    """The Feast objects of the project's repo, by name, and where its data lives."""

    project: str
    id_column: str
    id_type: str
    group_column: str | None
    group_type: str | None
    view: str
    service: str
    # The pipeline's table (what `materialize` reads) and the Parquet file Feast's source
    # reads: the same file, or EVENT_TABLE_FILE when the event time is generated.
    table: str
    source: str
    # The source's event-time field: the data's timestamp column, or GENERATED_EVENT_TIME.
    timestamp_column: str
    generated_time: bool
    features: tuple[Feature, ...]
    online_store: str
    sqlite_path: str
    redis: str


def _feast_name(text: str) -> str:
    """Feast project names are letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def repo_relative(path: str) -> str:
    """A project-relative path as seen from feature_repo/ (Feast resolves against it)."""
    if PurePosixPath(path).is_absolute():
        return path
    return str(PurePosixPath("..") / path)


def feature_repo(config: ReprokitConfig) -> FeatureRepo:
    """The repo of an enabled feature store (the config validated id column and table).

    The feature view holds every schema column except the id, the event timestamp and the
    target: serving looks up the raw inputs of the feature code, and a label must never be
    served. The group column is a feature too (the split and the feature code may read it)
    and also an entity, for views keyed by group that a user adds. Data without a timestamp
    column gets a generated one (the config refused a schema column of that name)."""
    data = config.data
    store = config.feature_store
    if data.id_column is None:
        raise ValueError("feature_repo needs a validated config with an id column")
    columns = data.schema_.columns
    excluded = {data.id_column, data.timestamp_column, data.target}
    table = str(config.catalog[store.table]["filepath"])
    generated = data.timestamp_column is None
    return FeatureRepo(
        project=_feast_name(config.project.name),
        id_column=data.id_column,
        id_type=FEAST_TYPES[columns[data.id_column].dtype],
        group_column=data.group_column,
        group_type=FEAST_TYPES[columns[data.group_column].dtype] if data.group_column else None,
        view=_feast_name(data.name),
        # Named after the model (the registered model and BentoML model share the name).
        service=f"{config.project.name}-{data.name}",
        table=table,
        source=EVENT_TABLE_FILE if generated else table,
        timestamp_column=data.timestamp_column or GENERATED_EVENT_TIME,
        generated_time=generated,
        features=tuple(
            Feature(name, FEAST_TYPES[column.dtype])
            for name, column in columns.items()
            if name not in excluded
        ),
        online_store=store.online_store,
        sqlite_path=store.sqlite_path,
        redis=store.redis,
    )
