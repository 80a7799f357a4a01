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
            cause = error.__cause__ if isinstance(error.__cause__, ReprokitError) else error
            click.echo(f"error: {cause}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
