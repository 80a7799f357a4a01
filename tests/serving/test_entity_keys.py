"""Entity bodies are checked before the online store sees them: a key Feast cannot convert
(an integer past int64, a string for an integer id) raised its ValueError, a 500."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from reprokit.serving.entities import entity_records
from reprokit.serving.request import RequestValidationError


@dataclass
class UnreachableStore:
    """Stands for the online store where the request must be refused before any lookup."""

    integer_ids: bool
    id_column: str = "customer_id"

    def rows(self, ids: list[Any]) -> Any:
        raise AssertionError(f"the store was asked for {ids}")


@pytest.mark.parametrize(
    ("integer_ids", "key"),
    [
        (True, 2**63),
        (True, -(2**63) - 1),
        (True, 10**30),
        (True, "1000008"),
        (True, "abc"),
        (True, True),
        (True, 1.5),
        (True, None),
        (False, 7),
    ],
)
def test_a_key_the_store_cannot_hold_is_a_422_naming_the_key_and_row(
    integer_ids: bool, key: Any
) -> None:
    entities = [{"customer_id": 1}, {"customer_id": key}] if integer_ids else [{"customer_id": key}]
    with pytest.raises(RequestValidationError) as refused:
        entity_records(UnreachableStore(integer_ids), entities, max_records=10)
    (violation,) = refused.value.violations
    assert (violation.field, violation.rule) == ("customer_id", "entity_key")
    assert violation.rows == [len(entities) - 1]
