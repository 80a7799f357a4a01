"""The part of a config that can change a result, the params a node binds, and the one
canonical hash of a JSON-like value."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from reprokit.core.dotted import drop, lookup

# Keys that cannot change a result: where it is recorded or served (feature_store: the online
# store a model's features are looked up in), how it is operated (ops: the orchestrator's
# schedule and retries), how many threads compute it (training is deterministic across thread
# counts), the project's display name.
NON_RESULT_KEYS = (
    "tracking",
    "serving",
    "ops",
    "feature_store",
    "engine.num_threads",
    "project",
)


def canonical_hash(value: Any) -> str:
    """sha256 of `value` as sorted, compact JSON: equal values, equal hashes."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def result_config(params: Mapping[str, Any]) -> dict[str, Any]:
    """The config without the keys that cannot change the result."""
    trimmed = copy.deepcopy(dict(params))
    for key in NON_RESULT_KEYS:
        drop(trimmed, key)
    return trimmed


def bound_params(bindings: Mapping[str, str], params: Mapping[str, Any]) -> dict[str, Any]:
    """argument -> value for a node's bindings (argument -> dotted key), without the keys
    that cannot change a result (a thread count binds a value but makes no other output).
    KeyError when a bound key is absent from `params`."""
    return {
        argument: lookup(params, key)
        for argument, key in bindings.items()
        if key not in NON_RESULT_KEYS
    }
