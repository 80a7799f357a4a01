"""One writer at a time per project: the project lock, and how it meets DVC's own locks.

Every command that writes the workspace (`data/`, `params.yaml`, `.reprokit/`) or the
project's stores (MLflow, the model registry, the BentoML store) holds `.reprokit/lock` for
its whole run. A second writer waits, naming the holder (pid, command, since when), for up
to `REPROKIT_LOCK_TIMEOUT` seconds (default 600; `0` fails at once, after a 2 s grace).

`dvc repro` runs each stage as a child process, one after the other, so the lock must span
the whole reproduction, not one stage. DVC 3.67 already holds, at every moment of a
reproduction, one of two locks (dvc/repo/reproduce.py, dvc/stage/decorators.py,
dvc/rwlock.py): its repository lock `.dvc/tmp/lock` (a flock, as zc.lockfile takes it), which
it *releases while a stage's command runs* (`unlocked_repo(cmd_run)`), and, around the
command, entries for the stage's deps and outs in `.dvc/tmp/rwlock` (pid and command). So:

- A DVC stage command (DVC sets `DVC_STAGE` and `DVC_ROOT` for it) takes only the project
  lock, for its own lifetime: the stages of one reproduction never wait for each other.
- Any other writer takes the project lock, then requires DVC to be idle (repository lock
  free, no live rwlock entry) and claims the whole project in DVC's rwlock for its
  lifetime. If DVC is busy it lets go and waits: a `reprokit run` never slips in between two
  stages. A `dvc repro` started meanwhile stops at its first stage, before restoring or
  running anything, with DVC's own message naming this command.

Cheap by design: the stage start-up path imports nothing beyond the standard library.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import shlex
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

from reprokit.errors import ConfigError, ReprokitError
from reprokit.logs import get_logger

LOCK_FILE = ".reprokit/lock"
TIMEOUT_ENV = "REPROKIT_LOCK_TIMEOUT"
DEFAULT_TIMEOUT = 600.0
# Even "fail at once" retries this long: a waiting writer probes the lock for microseconds,
# and DVC itself retries its repository lock for 3 s.
GRACE_SECONDS = 2.0
POLL_SECONDS = 0.2
DVC_REPO_LOCK = ".dvc/tmp/lock"
DVC_RWLOCK = ".dvc/tmp/rwlock"

F = TypeVar("F", bound=Callable[..., Any])


class ProjectLockedError(ReprokitError):
    """Another writer held the project (or DVC was reproducing it) past the timeout."""


@dataclass(frozen=True)
class Holder:
    """Who holds the project lock; written into the lock file for the next one to read."""

    pid: int
    command: str
    since: str
    host: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} (`{self.command}`, since {self.since})"


def command_line(argv: list[str] | None = None) -> str:
    """This process's command as a user typed it (`reprokit run -p train ...`)."""
    args = list(sys.argv if argv is None else argv)
    return shlex.join([Path(args[0]).name, *args[1:]]) if args else "python"


def lock_timeout(environ: dict[str, str] | None = None) -> float:
    """Seconds a writer waits for the lock: `REPROKIT_LOCK_TIMEOUT`, else 600."""
    raw = (os.environ if environ is None else environ).get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also rejects nan
        raise ConfigError(
            f"{TIMEOUT_ENV}={raw!r}: expected seconds >= 0 (0 fails at once, 'inf' waits forever)"
        )
    return seconds


DVC_EXPERIMENTS_DIR = Path(".dvc/tmp/exps")


def dvc_stage_of(root: Path, environ: dict[str, str] | None = None) -> str | None:
    """The DVC stage this process runs as (DVC_STAGE), when DVC runs it for this project:
    in the project itself, or in the copy of it a queued or temp-dir experiment runs in
    (under DVC_ROOT's .dvc/tmp/exps; DVC_ROOT is then the real repository). That copy's
    DVC lock is held by `dvc exp exec-run` for the whole experiment, so a stage taken there
    for an outside writer would wait for it forever."""
    env = os.environ if environ is None else environ
    stage, dvc_root = env.get("DVC_STAGE"), env.get("DVC_ROOT")
    if not stage or not dvc_root:
        return None
    here, repository = root.resolve(), Path(dvc_root).resolve()
    if here == repository or here.is_relative_to(repository / DVC_EXPERIMENTS_DIR):
        return stage
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def process_command(pid: int) -> str | None:
    """The command line of a live process, where the OS shows it (/proc), else None."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    args = [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]
    # `python .venv/bin/dvc repro` reads better as `dvc repro`.
    if len(args) > 1 and Path(args[0]).name.startswith("python"):
        args = args[1:]
    return command_line(args) if args else None


# --- flock -------------------------------------------------------------------------------


def _try_flock(path: Path) -> IO[str] | None:
    """The open, exclusively flock'ed file, or None when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")  # never truncates what the holder wrote
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _unlock(handle: IO[str]) -> None:
    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    handle.close()


def read_holder(path: Path) -> Holder | None:
    """The holder recorded in a lock file; None when empty or mid-write."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(**data)
    except (OSError, ValueError, TypeError):
        return None


# --- DVC ---------------------------------------------------------------------------------


def dvc_repo_lock_holder(root: Path) -> str | None:
    """What holds DVC's repository lock of this project (a running `dvc repro` between two
    stages, or any other DVC command), or None when it is free."""
    path = root / DVC_REPO_LOCK
    if not path.parent.is_dir():
        return None  # DVC creates .dvc/tmp when it starts: nothing runs
    handle = _try_flock(path)
    if handle is not None:
        _unlock(handle)  # held for microseconds; DVC retries its own lock for 3 s
        return None
    try:
        pid = int(path.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return f"a DVC command holds {DVC_REPO_LOCK}"
    command = process_command(pid) or "dvc"
    return f"DVC is running in this project: pid {pid} (`{command}`) holds {DVC_REPO_LOCK}"


class ProjectBusyError(Exception):
    """Someone else writes the project right now (internal: the lock retries)."""


def claim_in_dvc(stack: contextlib.ExitStack, root: Path, command: str) -> None:
    """Claim the whole project in DVC's rwlock (with DVC's own code, in its format) until
    `stack` closes: DVC then refuses to run, restore or check out any stage of it.

    Raises:
        ProjectBusyError: a DVC stage is running (its deps or outs are in the rwlock).
    """
    from dvc.fs import localfs
    from dvc.lock import LockError
    from dvc.rwlock import rwlock

    tmp_dir = root / ".dvc" / "tmp"
    tmp_dir.mkdir(exist_ok=True)  # as DVC makes it when it starts
    try:
        stack.enter_context(rwlock(str(tmp_dir), localfs, command, [], [str(root)], False))
    except LockError as error:
        users = ", ".join(dvc_rwlock_users(root)) or str(error).splitlines()[0]
        raise ProjectBusyError(f"DVC is running a stage in this project: {users}") from error


def dvc_rwlock_users(root: Path) -> list[str]:
    """The live processes with entries in DVC's rwlock, as `pid N (`command`)`."""
    try:
        document = json.loads((root / DVC_RWLOCK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    entries: list[dict[str, Any]] = [
        *(document.get("write") or {}).values(),
        *(info for infos in (document.get("read") or {}).values() for info in infos),
    ]
    users = {(int(info["pid"]), str(info["cmd"])) for info in entries if "pid" in info}
    return [f"pid {pid} (`{cmd}`)" for pid, cmd in sorted(users) if pid_alive(pid)]


# --- the lock ----------------------------------------------------------------------------


class ProjectLock:
    """The project's write lock; see the module docstring for how it spans `dvc repro`."""

    def __init__(
        self,
        root: Path,
        command: str,
        *,
        timeout: float | None = None,
        dvc_stage: str | None = None,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.root = root
        self.path = root / LOCK_FILE
        self.command = f"{command} (DVC stage {dvc_stage!r})" if dvc_stage else command
        self.timeout = lock_timeout() if timeout is None else timeout
        self._under_dvc = dvc_stage is not None
        self._poll = poll
        self._handle: IO[str] | None = None
        self._claim: contextlib.ExitStack | None = None

    def _check_dvc(self, stack: contextlib.ExitStack) -> None:
        if self._under_dvc or not (self.root / ".dvc").is_dir():
            return
        if busy := dvc_repo_lock_holder(self.root):
            raise ProjectBusyError(busy)
        claim_in_dvc(stack, self.root, self.command)

    def _try_once(self) -> None:
        """Take the lock or raise ProjectBusyError naming what holds the project."""
        # Before our flock too: no momentary hold of it while DVC is between two stages.
        if not self._under_dvc and (busy := dvc_repo_lock_holder(self.root)):
            raise ProjectBusyError(busy)
        handle = _try_flock(self.path)
        if handle is None:
            holder = read_holder(self.path)
            raise ProjectBusyError(f"held by {holder.describe()}" if holder else "held")
        stack = contextlib.ExitStack()
        try:
            self._check_dvc(stack)
        except BaseException:
            stack.close()
            _unlock(handle)
            raise
        self._take_over(handle)
        self._handle, self._claim = handle, stack

    def _take_over(self, handle: IO[str]) -> None:
        # A clean release empties the file: content left means its writer died holding it.
        if stale := read_holder(self.path):
            get_logger(__name__).warning(
                "lock.stale_taken_over", lock=str(self.path), was=stale.describe()
            )
        holder = Holder(
            pid=os.getpid(),
            command=self.command,
            since=datetime.now(UTC).isoformat(timespec="seconds"),
            host=socket.gethostname(),
        )
        handle.truncate(0)
        handle.write(json.dumps(asdict(holder)) + "\n")
        handle.flush()

    def acquire(self) -> None:
        deadline = time.monotonic() + max(self.timeout, GRACE_SECONDS)
        reported: str | None = None
        while True:
            try:
                self._try_once()
                return
            except ProjectBusyError as busy:
                reason = str(busy)
            if time.monotonic() >= deadline:
                waited = max(self.timeout, GRACE_SECONDS)
                raise ProjectLockedError(
                    f"another writer has the project {self.root}: {reason}. "
                    f"Waited {waited:g} s ({TIMEOUT_ENV}); retry when it is done, or "
                    f"set {TIMEOUT_ENV}=<seconds> to wait longer. The lock file is "
                    f"{self.path} (a dead holder's lock is taken over by itself)"
                )
            if reason != reported:
                # A lazy logger: importing the CLI module stays free of structlog.
                get_logger(__name__).warning(
                    "lock.waiting",
                    message=f"waiting for the project lock: {reason}",
                    timeout=self.timeout,
                )
                reported = reason
            time.sleep(self._poll)

    def release(self) -> None:
        if self._claim is not None:
            self._claim.close()
            self._claim = None
        if self._handle is not None:
            self._handle.truncate(0)
            self._handle.flush()
            _unlock(self._handle)
            self._handle = None

    def __enter__(self) -> ProjectLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def project_lock(root: Path, command: str | None = None) -> ProjectLock:
    """The lock for this process: as a DVC stage when DVC runs it for this project."""
    return ProjectLock(root, command or command_line(), dvc_stage=dvc_stage_of(root))


def writes_project(command: F) -> F:
    """Run a CLI command holding the project lock (under `user_errors`, for a clean exit)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from reprokit.config.compose import find_project_root

        with project_lock(find_project_root()):
            return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
