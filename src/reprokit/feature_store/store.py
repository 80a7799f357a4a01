"""Feast I/O: apply the generated repo, materialize it, read it. The only module that
imports Feast, always inside a function (importing Feast costs seconds)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from reprokit._compat.typeguard import typechecked_off
from reprokit.config.models import ReprokitConfig
from reprokit.core.env import disable_telemetry
from reprokit.core.fs import atomic_path
from reprokit.errors import ReprokitError
from reprokit.feature_store.events import source_table
from reprokit.feature_store.render import check
from reprokit.feature_store.spec import (
    DEFINITIONS_FILE,
    MATERIALIZED_FILE,
    REGISTRY_FILE,
    REPO_DIR,
    STATE_DIR,
    STORE_FILE,
    FeatureRepo,
    feature_repo,
)
from reprokit.logs import get_logger

log = get_logger(__name__)

# Not a DVC out (DVC deletes outs before a stage runs): what the last materialization saw,
# so the next one knows whether loading only the newer rows is enough.
STATE_FILE = f"{STATE_DIR}/state.json"
# Feast's windows are [start, end): the end is just past the newest event time.
END_MARGIN = timedelta(microseconds=1)


class FeatureStoreError(ReprokitError):
    """The feature store is off, not materialized, or cannot answer."""


@dataclass(frozen=True)
class Plan:
    """How the `materialize` stage loads the table: `incremental` (only rows newer than the
    last window's end) or `full` (the store is rebuilt from the whole table)."""

    mode: str
    start: datetime
    end: datetime


def _feast() -> Any:
    disable_telemetry()
    # Feast's modules instrument their classes with typeguard at import: seconds of the
    # stage (reprokit._compat.typeguard has the measurement).
    with typechecked_off():
        import feast

    return feast


def open_store(config: ReprokitConfig, root: Path) -> Any:
    """Feast's FeatureStore over feature_repo/ (which must match the config)."""
    if not config.feature_store_on:
        raise FeatureStoreError(
            f"the feature store is off for data {config.data.name!r} (feature_store.enabled "
            f"in params.yaml; `auto` needs data.id_column)"
        )
    check(config, root)
    return _feast().FeatureStore(repo_path=str(root / REPO_DIR))


def definitions(root: Path) -> list[Any]:
    """The Feast objects feature_repo/features.py defines (what `feast apply` would apply)."""
    feast = _feast()
    kinds = (feast.Entity, feast.FeatureView, feast.FeatureService)
    path = root / DEFINITIONS_FILE
    spec = importlib.util.spec_from_file_location("reprokit_feature_repo", path)
    if spec is None or spec.loader is None:
        raise FeatureStoreError(f"{path} cannot be loaded: run `reprokit features generate`")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [value for value in vars(module).values() if isinstance(value, kinds)]


def rows_digest(table: pd.DataFrame, timestamp: str, before: datetime) -> str:
    """sha256 of the rows with event time before `before`, whatever their order."""
    settled = table[table[timestamp] < pd.Timestamp(before).tz_localize(None)]
    hashes = pd.util.hash_pandas_object(settled, index=False).sort_values().to_numpy()
    return hashlib.sha256(hashes.tobytes()).hexdigest()


def definitions_digest(root: Path) -> str:
    text = "".join(
        (root / name).read_text(encoding="utf-8") for name in (STORE_FILE, DEFINITIONS_FILE)
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plan(
    table: pd.DataFrame, repo: FeatureRepo, previous: Mapping[str, Any] | None, digest: str
) -> Plan:
    """Incremental when the last materialization used the same definitions and every row it
    loaded is still there unchanged (an append of newer rows); else a full rebuild, so a
    changed or removed old row never stays online."""
    times = table[repo.timestamp_column]
    end = pd.Timestamp(times.max()).tz_localize(UTC).to_pydatetime() + END_MARGIN
    start = pd.Timestamp(times.min()).tz_localize(UTC).to_pydatetime()
    if previous and previous.get("definitions") == digest:
        watermark = datetime.fromisoformat(str(previous["watermark"]))
        if rows_digest(table, repo.timestamp_column, watermark) == previous.get("settled"):
            return Plan("incremental", watermark, end)
    return Plan("full", start, end)


def rows_to_load(table: pd.DataFrame, repo: FeatureRepo, step: Plan) -> int:
    """How many rows Feast writes online for `step`: the newest row of each id whose event
    time falls in the window [start, end)."""
    times = table[repo.timestamp_column]
    start = pd.Timestamp(step.start).tz_localize(None)
    end = pd.Timestamp(step.end).tz_localize(None)
    return int(table.loc[(times >= start) & (times < end), repo.id_column].nunique())


@dataclass
class WriteProgress:
    """Counts the rows written online and reports each batch: how far, time spent and left
    (Feast's own progress bar is not drawn by its local engine, so a load of millions of
    rows was minutes without a line)."""

    total: int
    report: Callable[[int, int, float, float], None]
    clock: Callable[[], float] = time.monotonic
    written: int = 0
    _started: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._started = self.clock()

    def advance(self, rows: int) -> None:
        self.written += rows
        elapsed = self.clock() - self._started
        left = max(self.total - self.written, 0)
        eta = elapsed / self.written * left if self.written else 0.0
        self.report(self.written, self.total, elapsed, eta)


def _log_progress(written: int, total: int, elapsed: float, eta: float) -> None:
    log.info(
        "materialize.progress",
        rows=f"{written}/{total}",
        elapsed_s=round(elapsed, 1),
        eta_s=round(eta, 1),
    )


@contextmanager
def reporting_writes(store: Any, progress: WriteProgress) -> Iterator[None]:
    """Within: every batch Feast writes to `store`'s online store advances `progress`.

    Wraps the online store instance's `online_write_batch` (the OnlineStore interface every
    Feast engine writes through); a store without one loads as before, without lines."""
    online = getattr(getattr(store, "provider", None), "online_store", None)
    write = getattr(online, "online_write_batch", None)
    if online is None or write is None:
        yield
        return

    def counted(*args: Any, **kwargs: Any) -> Any:
        result = write(*args, **kwargs)
        data = kwargs["data"] if "data" in kwargs else args[2]
        progress.advance(len(data))
        return result

    online.online_write_batch = counted
    try:
        yield
    finally:
        del online.online_write_batch  # the class's method again


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    value = json.loads(path.read_text(encoding="utf-8"))
    return value if isinstance(value, dict) else None


def _write_json(path: Path, value: Mapping[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def materialize(config: ReprokitConfig, root: Path) -> Plan:
    """The `materialize` stage: apply feature_repo/ and load the table into the online store.

    Writes MATERIALIZED_FILE (the stage's out): a function of the table and the definitions
    only, so dvc.lock is stable; the online store itself is local state like the BentoML
    store (its rows carry Feast's write times). Data without a timestamp column: first the
    event table Feast's source reads (the stage's other out, as deterministic)."""
    store = open_store(config, root)
    repo = feature_repo(config)
    table = source_table(root, repo)
    digest = definitions_digest(root)
    step = plan(table, repo, _read_json(root / STATE_FILE), digest)
    (root / STATE_DIR).mkdir(parents=True, exist_ok=True)
    if step.mode == "full":
        # A registry left by an earlier run: its online rows may be ones the table no longer has.
        if (root / REGISTRY_FILE).is_file():
            store.teardown()
            store = _feast().FeatureStore(repo_path=str(root / REPO_DIR))
        (root / STATE_FILE).unlink(missing_ok=True)
    store.apply(definitions(root))
    rows = rows_to_load(table, repo, step)
    log.info("materialize.load", mode=step.mode, rows=rows, table_rows=len(table))
    with reporting_writes(store, WriteProgress(rows, _log_progress)):
        if step.mode == "full":
            store.materialize(start_date=step.start, end_date=step.end, feature_views=[repo.view])
        else:
            store.materialize_incremental(end_date=step.end, feature_views=[repo.view])
    watermark = step.end.isoformat()
    _write_json(
        root / STATE_FILE,
        {
            "definitions": digest,
            "watermark": watermark,
            "settled": rows_digest(table, repo.timestamp_column, step.end),
        },
    )
    _write_json(
        root / MATERIALIZED_FILE,
        {
            "feature_view": repo.view,
            "feature_service": repo.service,
            "online_store": repo.online_store,
            "rows": len(table),
            "entities": int(table[repo.id_column].nunique()),
            "loaded_until": watermark,
        },
    )
    return step


def online_features(
    config: ReprokitConfig, root: Path, entity_rows: Sequence[Mapping[str, Any]]
) -> dict[str, list[Any]]:
    """The feature service's values for `entity_rows` (column -> values), from the online store."""
    store = open_store(config, root)
    repo = feature_repo(config)
    service = store.get_feature_service(repo.service)
    response = store.get_online_features(features=service, entity_rows=list(entity_rows))
    return dict(response.to_dict())


@dataclass(frozen=True)
class ViewSummary:
    name: str
    entities: tuple[str, ...]
    features: int
    online: bool
    loaded_until: datetime | None


def summary(config: ReprokitConfig, root: Path) -> tuple[list[tuple[str, str]], list[ViewSummary]]:
    """(entity name, join key) pairs and the feature views with their freshness (the end of
    their last materialized window), as Feast's registry has them."""
    store = open_store(config, root)
    entities = [(entity.name, entity.join_key) for entity in store.list_entities()]
    views = [
        ViewSummary(
            name=view.name,
            entities=tuple(view.entities),
            features=len(view.features),
            online=bool(view.online),
            loaded_until=view.most_recent_end_time,
        )
        for view in store.list_feature_views()
    ]
    return sorted(entities), sorted(views, key=lambda view: view.name)


@dataclass(frozen=True)
class OnlineRows:
    """What the online store holds for a list of ids: the records (the table's columns but
    the target, as JSON values) of the ids it knows, and the positions of those it does not."""

    records: list[dict[str, Any]]
    unknown: list[int]


class OnlineLookup:
    """The feature service of the model, read row by row from the online store (serving)."""

    def __init__(self, config: ReprokitConfig, root: Path) -> None:
        self.repo = feature_repo(config)
        self.store = open_store(config, root)
        self.service = self.store.get_feature_service(self.repo.service)
        # The table's column order, so a looked-up record is the record a caller would send.
        self.columns = [name for name in config.data.schema_.columns if name != config.data.target]
        self._id_dtype = config.data.schema_.columns[self.repo.id_column].dtype

    @property
    def id_column(self) -> str:
        return self.repo.id_column

    @property
    def integer_ids(self) -> bool:
        """The id column is an integer column of the schema (else its ids are strings)."""
        return bool(pd.api.types.is_integer_dtype(pd.api.types.pandas_dtype(self._id_dtype)))

    def rows(self, ids: Sequence[Any]) -> OnlineRows:
        """Feast's values are already JSON values (int, float, str, None for a null); built
        as dicts directly, since a DataFrame round trip costs more than the lookup itself."""
        response = self.store.get_online_features(
            features=self.service, entity_rows=[{self.repo.id_column: i} for i in ids]
        ).to_dict(include_event_timestamps=True)
        # Feast answers an unknown id with null values stamped 0 (the epoch).
        stamps = response[f"{self.repo.features[0].name}__ts"]
        unknown = [row for row, stamp in enumerate(stamps) if not stamp]
        records = []
        for row, stamp in enumerate(stamps):
            if not stamp:
                continue
            values = {name: response[name][row] for name in self.columns if name in response}
            values[self.repo.id_column] = ids[row]
            if not self.repo.generated_time:
                # The event time as the online store keeps it: whole seconds, UTC, written as
                # a client writes the table's naive UTC time (a sub-second part does not
                # survive). A generated time is no column of the records.
                values[self.repo.timestamp_column] = pd.Timestamp(stamp, unit="s").isoformat()
            records.append({name: values[name] for name in self.columns})
        return OnlineRows(records=records, unknown=unknown)
