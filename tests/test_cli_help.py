"""`reprokit -h`: complete one-line summaries, `-h` everywhere, `--version`."""

from __future__ import annotations

from importlib.metadata import version

import click
import pytest
from click.testing import CliRunner

from reprokit.cli import main
from reprokit.cli_help import summary_of


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(_all_commands(command, (*prefix, name)))
    return paths


def test_summary_is_the_whole_first_paragraph_even_with_abbreviations() -> None:
    command = click.Command("x", help="Score rows (e.g. a batch) with the\nmodel.\n\nDetails.")
    assert summary_of(command) == "Score rows (e.g. a batch) with the model."


def test_explicit_short_help_wins() -> None:
    assert summary_of(click.Command("x", help="Long.", short_help="Short")) == "Short"


def test_top_level_help_lists_every_summary_uncut() -> None:
    result = CliRunner().invoke(main, ["-h"], prog_name="reprokit", terminal_width=100)
    assert result.exit_code == 0, result.output
    commands_section = result.output.split("Commands:", 1)[1]
    assert "..." not in commands_section
    for name, command in main.commands.items():
        assert f"{name:<10} {summary_of(command)}" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 100


@pytest.mark.parametrize("path", _all_commands(main), ids=" ".join)
def test_every_command_takes_dash_h(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "-h"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"], prog_name="reprokit")
    assert result.exit_code == 0
    assert result.output.strip() == f"reprokit {version('reprokit')}"
