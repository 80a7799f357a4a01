"""Entity requests: `{"entities": [{"<id column>": ...}, ...]}` is answered from the records
the feature store's online store holds for those ids, which then go through the same schema
check, feature code and model as records a caller sends (so the predictions are the same).

The lookup exists when the project's feature store is on and materialized (its registry
file is there) when the service starts; Feast is imported then, not per request."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reprokit.errors import ReprokitError
from reprokit.logs import get_logger
from reprokit.serving.request import RequestValidationError, Violation

INPUT_RECORDS = "records"
INPUT_COLUMNS = "columns"
INPUT_ENTITIES = "entities"
# The unknown ids named in a 422, at most.
MAX_IDS_NAMED = 10
log = get_logger(__name__)


def entity_lookup(root: Path) -> Any:
    """The online lookup of the project's feature store, or None when it has none filled
    (or it cannot be opened: records are still served, and the log says why)."""
    from reprokit.config.compose import load_config
    from reprokit.feature_store.spec import REGISTRY_FILE

    try:
        config = load_config(root)
        if not config.feature_store_on or not (root / REGISTRY_FILE).is_file():
            return None
        from reprokit.feature_store.store import OnlineLookup

        return OnlineLookup(config, root)
    except ReprokitError as error:
        log.warning("serving.entities_off", reason=str(error))
        return None


# The range of the int64 keys a store with an integer id column holds: Feast raises a
# ValueError (a 500) for an integer outside it.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _is_key(value: Any, integer_ids: bool) -> bool:
    """`value` can be an id of the store: an int64 for an integer id column (no bool, no
    numeric string: a record would be refused those too), else a string."""
    if integer_ids:
        return type(value) is int and _INT64_MIN <= value <= _INT64_MAX
    return isinstance(value, str)


def _shape_violations(
    entities: Sequence[Any], id_column: str, max_records: int, integer_ids: bool = True
) -> list[Violation]:
    if len(entities) == 0:
        return [Violation(None, "min_records", "`entities` is empty; expected at least 1 entity")]
    if len(entities) > max_records:
        return [
            Violation(
                None, "max_records", f"{len(entities)} entities; at most {max_records} per request"
            )
        ]
    bad = [
        row
        for row, entity in enumerate(entities)
        if not isinstance(entity, dict)
        or set(entity) != {id_column}
        or not _is_key(entity[id_column], integer_ids)
    ]
    if bad:
        kind = "an integer within int64" if integer_ids else "a string"
        return [
            Violation(
                id_column,
                "entity_key",
                f"each entity must be an object with exactly the key {id_column!r} ({kind})",
                bad,
            )
        ]
    return []


def entity_records(lookup: Any, entities: Sequence[Any], max_records: int) -> list[dict[str, Any]]:
    """The records the online store holds for `entities`, in their order.

    Raises:
        RequestValidationError: A malformed entity, or ids the store does not hold (named,
            with their rows): a 422 naming the key.
    """
    id_column = str(lookup.id_column)
    violations = _shape_violations(entities, id_column, max_records, bool(lookup.integer_ids))
    if violations:
        raise RequestValidationError(violations)
    ids = [entity[id_column] for entity in entities]
    found = lookup.rows(ids)
    if found.unknown:
        named = ", ".join(repr(ids[row]) for row in found.unknown[:MAX_IDS_NAMED])
        raise RequestValidationError(
            [
                Violation(
                    id_column,
                    "unknown_entity",
                    f"{id_column} {named} not in the feature store's online store",
                    list(found.unknown),
                )
            ]
        )
    return list(found.records)
