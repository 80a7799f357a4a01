"""Token buckets of the rate limit and the failed-auth throttle: one refill rule
(`take_token`, `token_wait`), kept in this process (`TokenBuckets`) or in a store the
workers of one server share (`SharedTokenBuckets`).

With one worker the buckets live in the process. With several, each worker seeing its own
buckets would let a key through N times its limit, so every worker takes its tokens from
one SQLite database (WAL, `BEGIN IMMEDIATE`: a take is one read-modify-write under the
database's write lock) in the server's state directory (`server_state_directory`):
created by the server's parent process before any worker starts, private to its user
(mode 0700), on tmpfs (/dev/shm) when there is one, removed when the server stops; a
directory a killed server left behind is removed by the next start. Its path reaches the
workers in `STATE_DIR_VARIABLE` (they inherit the parent's environment).

The workers' clocks agree: `time.monotonic` is CLOCK_MONOTONIC, one clock per host on
Linux. A bucket that has refilled to the burst is the same as no bucket, so the shared
store drops those rows from time to time (`SharedTokenBuckets.prune_every`); the rest are
kept up to `max_clients`, least recently used dropped first, as in the process.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

# An internal variable: set by the server's deployment hook, read by its workers.
STATE_DIR_VARIABLE = "REPROKIT_SERVER_STATE_DIR"
SHM = Path("/dev/shm")
_STATE_PREFIX = "reprokit-server-"
_STATE_NAME = re.compile(rf"^{_STATE_PREFIX}(\d+)-")
_BUCKETS_FILE = "buckets.sqlite"
# A worker waits this long for the other workers' takes (microseconds each) before failing.
_LOCK_TIMEOUT_S = 5.0
# SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between tries: against a lock held
# for microseconds that is mostly sleeping (a take once waited 0.5 s in bench_limits.py), so
# the write lock is asked for again after a short, growing pause instead, up to 1 ms.
_FIRST_PAUSE_S, _LONGEST_PAUSE_S = 20e-6, 1e-3

Bucket = tuple[float, float]  # tokens, monotonic time they were counted at


def refilled(bucket: Bucket | None, now: float, rate: float, burst: float) -> float:
    """The tokens of `bucket` at `now`: it gains `rate` per second up to `burst`; an
    unknown client (None) has a full bucket. A clock that went back adds nothing."""
    if bucket is None:
        return burst
    tokens, last = bucket
    return min(burst, tokens + max(0.0, now - last) * rate)


def take_token(
    bucket: Bucket | None, now: float, rate: float, burst: float
) -> tuple[Bucket, float]:
    """The bucket after one take at `now`, and 0 when a token was taken, else the seconds
    until one is available (nothing is taken then)."""
    tokens = refilled(bucket, now, rate, burst)
    if tokens >= 1.0:
        return (tokens - 1.0, now), 0.0
    return (tokens, now), (1.0 - tokens) / rate


def token_wait(bucket: Bucket | None, now: float, rate: float, burst: float) -> float:
    """The seconds until `bucket` has a token at `now`, taking none (the wait a take would
    report, whether or not a token is there: the bucket it would leave is discarded)."""
    return take_token(bucket, now, rate, burst)[1]


class Buckets(Protocol):
    def take(self, client: str) -> float: ...

    def wait(self, client: str) -> float: ...


class TokenBuckets:
    """One token bucket per client in this process; the least recently used buckets are
    dropped past `max_clients` (a dropped client starts again with a full bucket)."""

    def __init__(
        self,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.rate, self.burst, self.clock, self.max_clients = rate, burst, clock, max_clients
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def take(self, client: str) -> float:
        """0 when a token was taken; else the seconds until one is available."""
        bucket, wait = take_token(self._buckets.pop(client, None), self.clock(), *self._rule)
        self._buckets[client] = bucket
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait

    def wait(self, client: str) -> float:
        """The seconds until `client` has a token, taking none (0 for an unknown client)."""
        return token_wait(self._buckets.get(client), self.clock(), *self._rule)

    @property
    def _rule(self) -> tuple[float, float]:
        return self.rate, self.burst


class SharedTokenBuckets:
    """`TokenBuckets` in a SQLite database the workers of one server share, table `name`
    (one per limit). The connection opens on first use, in the worker."""

    prune_every = 1000  # takes between drops of refilled buckets

    def __init__(
        self,
        path: Path,
        name: str,
        *,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        if not name.isidentifier():
            raise ValueError(f"bucket table name {name!r} is not an identifier")
        self.path, self.table = path, f"buckets_{name}"
        self.rate, self.burst, self.clock, self.max_clients = rate, burst, clock, max_clients
        self._connection: sqlite3.Connection | None = None
        self._takes = 0

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            # isolation_level=None: transactions are the explicit BEGIN IMMEDIATE below.
            connection = sqlite3.connect(self.path, timeout=_LOCK_TIMEOUT_S, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            # The state lives as long as the server, on tmpfs: durability buys nothing.
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} "
                "(client TEXT PRIMARY KEY, tokens REAL NOT NULL, last REAL NOT NULL)"
            )
            connection.execute(
                f"CREATE INDEX IF NOT EXISTS {self.table}_last ON {self.table} (last)"
            )
            # The set-up above waits with SQLite's busy handler; from now on a busy lock
            # raises at once and `_begin` asks again (see _FIRST_PAUSE_S).
            connection.execute("PRAGMA busy_timeout=0")
            self._connection = connection
        return self._connection

    def _bucket(self, db: sqlite3.Connection, client: str) -> Bucket | None:
        row = db.execute(
            f"SELECT tokens, last FROM {self.table} WHERE client = ?", (client,)
        ).fetchone()
        return None if row is None else (float(row[0]), float(row[1]))

    def take(self, client: str) -> float:
        """0 when a token was taken; else the seconds until one is available."""
        db = self._db()
        _begin(db)
        try:
            now = self.clock()
            (tokens, last), wait = take_token(self._bucket(db, client), now, *self._rule)
            db.execute(
                f"INSERT OR REPLACE INTO {self.table} (client, tokens, last) VALUES (?, ?, ?)",
                (client, tokens, last),
            )
            self._takes += 1
            if self._takes % self.prune_every == 0:
                self._prune(db, now)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return wait

    def wait(self, client: str) -> float:
        """The seconds until `client` has a token, taking none (0 for an unknown client)."""
        # One SELECT is its own consistent read: no transaction needed.
        return token_wait(self._bucket(self._db(), client), self.clock(), *self._rule)

    def _prune(self, db: sqlite3.Connection, now: float) -> None:
        # Full again (burst/rate seconds untouched) is the same as absent.
        refill_seconds = self.burst / self.rate if self.rate > 0 else float("inf")
        db.execute(f"DELETE FROM {self.table} WHERE last < ?", (now - refill_seconds,))
        db.execute(
            f"DELETE FROM {self.table} WHERE client IN (SELECT client FROM {self.table} "
            "ORDER BY last DESC LIMIT -1 OFFSET ?)",
            (self.max_clients,),
        )

    @property
    def _rule(self) -> tuple[float, float]:
        return self.rate, self.burst

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _begin(db: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE: the write lock first, so no other take comes between this take's read
    and write; retried after a short pause while another worker holds it."""
    pause, deadline = _FIRST_PAUSE_S, time.monotonic() + _LOCK_TIMEOUT_S
    while True:
        try:
            db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, _LONGEST_PAUSE_S)


def buckets_for(
    name: str,
    rate: float,
    burst: float,
    clock: Callable[[], float] = time.monotonic,
    environ: Mapping[str, str] = os.environ,
) -> Buckets:
    """The buckets of the limit `name`: shared by the server's workers when it has a
    state directory (several workers), else this process's own."""
    directory = environ.get(STATE_DIR_VARIABLE)
    if directory:
        path = Path(directory) / _BUCKETS_FILE
        return SharedTokenBuckets(path, name, rate=rate, burst=burst, clock=clock)
    return TokenBuckets(rate, burst, clock)


# --- the server's state directory --------------------------------------------------------------


def state_base(shm: Path = SHM) -> Path:
    """Where state directories go: tmpfs /dev/shm when it is a writable directory, else the
    system's temporary directory."""
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return Path(tempfile.gettempdir())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_stale(base: Path) -> list[Path]:
    """Remove the state directories of this user's servers that are gone (killed before
    they could remove their own); the removed paths."""
    removed: list[Path] = []
    for entry in base.glob(f"{_STATE_PREFIX}*"):
        match = _STATE_NAME.match(entry.name)
        with contextlib.suppress(OSError):
            if match and entry.lstat().st_uid == os.getuid() and not _alive(int(match[1])):
                shutil.rmtree(entry)
                removed.append(entry)
    return removed


def server_state_directory(base: Path | None = None) -> Path:
    """A new state directory for this server (the calling process: its pid is in the name,
    which is how a later start knows it is stale), mode 0700."""
    root = base or state_base()
    remove_stale(root)
    # mkdtemp: a fresh name, created 0700, never a directory someone prepared.
    return Path(tempfile.mkdtemp(prefix=f"{_STATE_PREFIX}{os.getpid()}-", dir=root))
