"""Champion/challenger: which caller sees which model, and shadow scoring off the
request's path.

A caller is its authenticated API key id (a digest prefix, never the key); with
authentication off (`REPROKIT_AUTH=off`, local development) it is the client address, so
callers behind one proxy share one assignment. The caller's bucket is a stable hash of
(salt, caller) mapped to [0, 1): the caller sees the challenger when the bucket is below
`fraction`. The same caller therefore always lands on the same side, across workers and
restarts, and raising the fraction only moves callers from champion to challenger.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from reprokit.config.models import ChallengerConfig

CHAMPION = "champion"
CHALLENGER = "challenger"
SHADOW = "shadow"
MAX_SHADOW_IN_FLIGHT = 8
_HASH_SPACE = float(2**64)

log = logging.getLogger(__name__)


def caller_key(scope: Mapping[str, Any], key_id_scope: str) -> str:
    """The authenticated key id, else `addr:<client address>` (auth off)."""
    key_id = scope.get(key_id_scope)
    if key_id:
        return str(key_id)
    client = scope.get("client") or ("unknown",)
    return f"addr:{client[0]}"


def caller_bucket(salt: str, caller: str) -> float:
    """A caller's stable position in [0, 1)."""
    digest = hashlib.sha256(f"{salt}\x00{caller}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _HASH_SPACE


def selected(config: ChallengerConfig, caller: str) -> bool:
    """Whether this caller's requests go to (split) or are shadowed by (shadow) the
    challenger."""
    return config.mode != "none" and caller_bucket(config.salt, caller) < config.fraction


class ShadowScheduler:
    """Runs shadow scorings as background tasks, never awaited by a request.

    At most `limit` run at once: past it, a scoring is skipped (and counted) rather than
    queued, so a slow challenger cannot pile up work behind the champion's traffic.
    """

    def __init__(self, limit: int = MAX_SHADOW_IN_FLIGHT) -> None:
        self.limit = limit
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def submit(self, work: Callable[[], Awaitable[None]]) -> bool:
        """Start `work()` in the background; False (nothing started) when at the limit."""
        if len(self._tasks) >= self.limit:
            return False
        task = asyncio.get_running_loop().create_task(self._guarded(work))
        # The loop keeps only weak references to tasks: hold them until they finish.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    @staticmethod
    async def _guarded(work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception:  # a shadow failure is reported, never raised into the server
            log.exception("reprokit serving: shadow scoring failed")
