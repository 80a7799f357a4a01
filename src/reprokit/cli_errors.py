"""How every `reprokit` command reports a user error: one clear message, a non-zero exit,
no traceback. Its own module so that command modules can share it without import cycles."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from reprokit.errors import ReprokitError

F = TypeVar("F", bound=Callable[..., Any])


def _kedro_error_types() -> tuple[type[BaseException], ...]:
    from kedro.io import DatasetError
    from kedro.validation.exceptions import DataValidationError

    return (DatasetError, DataValidationError)


def user_errors(command: F) -> F:
    """Print a user-facing error as one clear message and exit non-zero, no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ReprokitError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(error.exit_code)
        except _kedro_error_types() as error:
            cause = _reprokit_cause(error)
            click.echo(f"error: {cause or error}", err=True)
            sys.exit(cause.exit_code if cause else 1)

    return wrapper  # type: ignore[return-value]


def _reprokit_cause(error: BaseException) -> ReprokitError | None:
    """The reprokit error under Kedro's wrapping, which can be two deep: the dataset's load
    wrapper, then the catalog's `<name>: ...` around that."""
    cause = error.__cause__
    while cause is not None and not isinstance(cause, ReprokitError):
        cause = cause.__cause__
    return cause
