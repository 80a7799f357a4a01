"""How every command reports a user error: `error: <message>`, the error's exit code, no
traceback; Kedro's wrapping of a reprokit error inside a dataset is unwrapped."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from kedro.io import DatasetError

from reprokit.cli_errors import user_errors
from reprokit.errors import ConfigError, DataError


def invoke(error: BaseException) -> tuple[int, str]:
    @click.command()
    @user_errors
    def failing() -> None:
        raise error

    result = CliRunner().invoke(failing, [])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(("error", "code"), [(ConfigError("bad key x"), 2), (DataError("bad"), 1)])
def test_a_reprokit_error_is_its_message_and_its_exit_code(error: Exception, code: int) -> None:
    assert invoke(error) == (code, f"error: {error}\n")


def test_a_reprokit_error_inside_a_kedro_dataset_error_is_shown_unwrapped() -> None:
    try:
        raise DatasetError("Failed while loading data from dataset ...") from DataError(
            "dataset 'raw' violates its schema"
        )
    except DatasetError as wrapped:
        assert invoke(wrapped) == (1, "error: dataset 'raw' violates its schema\n")


def test_a_reprokit_error_under_the_catalogs_second_wrapping_is_shown_unwrapped() -> None:
    from kedro.io import DataCatalog

    from reprokit.io import TableReadError

    catalog = DataCatalog.from_config(
        {"raw": {"type": "reprokit.datasets.TableDataset", "filepath": "missing.csv"}}
    )
    try:
        catalog.load("raw")
    except DatasetError as wrapped:
        assert isinstance(wrapped.__cause__, DatasetError)  # the catalog wraps the dataset's
        message = str(TableReadError("file missing.csv does not exist"))
        assert invoke(wrapped) == (1, f"error: {message}\n")


def test_a_kedro_dataset_error_of_its_own_is_shown_as_is() -> None:
    assert invoke(DatasetError("no such file data/x.parquet")) == (
        1,
        "error: no such file data/x.parquet\n",
    )


def test_any_other_exception_is_a_bug_and_keeps_its_traceback() -> None:
    @click.command()
    @user_errors
    def failing() -> None:
        raise KeyError("bug")

    result = CliRunner().invoke(failing, [])
    assert isinstance(result.exception, KeyError)
