"""A quick exit after a DVC stage's command (and the checks `make repro` runs).

A stage process imports pandas, pyarrow, Kedro and often LightGBM and scikit-learn; when it
is done, Python's own finalization (tearing down some 1,500 modules and freeing every
object one by one) took 0.3-0.5 s per stage, measured, all of it after the last output was
written and closed. A command marked `exits_quickly` that succeeded ends the process after
what an exit must do: the `atexit` handlers (logging's flush, `weakref.finalize`
callbacks such as temporary directories, multiprocessing's children) run, stdout and
stderr are flushed, then `os._exit`. Anything else, a failure or a non-daemon thread still
running (which a normal exit would wait for), exits the ordinary way. So does a command
invoked in-process with its own arguments (click's CliRunner, a test): only the console
script's own run (`main()` reading sys.argv) ends its process.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from reprokit.cli_help import SummaryGroup

F = TypeVar("F", bound=Callable[..., Any])

# Set by a command marked `exits_quickly` once it has succeeded.
_finished: list[bool] = []


def exits_quickly(command: F) -> F:
    """Mark a command whose successful process may skip interpreter finalization."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = command(*args, **kwargs)
        _finished.append(True)
        return result

    return wrapper  # type: ignore[return-value]


def _threads_left() -> bool:
    """Whether a non-daemon thread is alive besides this one: a normal exit joins it."""
    current = threading.current_thread()
    return any(t is not current and t.is_alive() and not t.daemon for t in threading.enumerate())


def may_exit_quickly(code: object) -> bool:
    return bool(_finished) and code in (None, 0) and not _threads_left()


def _flush(stream: Any) -> None:
    # Closed, or a broken pipe: nothing left to deliver.
    with contextlib.suppress(OSError, ValueError):
        stream.flush()


def exit_quickly() -> None:
    """Run the atexit handlers, flush stdout and stderr, and end the process with 0."""
    atexit._run_exitfuncs()
    _flush(sys.stdout)
    _flush(sys.stderr)
    os._exit(0)


class QuickExitGroup(SummaryGroup):
    """The `reprokit` group: the console script's run ends quickly after a marked command."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        if args is not None:  # in-process (CliRunner): the caller's process is not ours
            return super().main(args, *rest, **extra)
        try:
            return super().main(None, *rest, **extra)
        except SystemExit as done:
            if may_exit_quickly(done.code):
                exit_quickly()
            raise
