"""How `reprokit --help` lists commands: each command's whole first docstring paragraph, never
cut mid-phrase (click's default summary stops at the first word ending in '.', so "(e.g." ended
it), plus `-h` and a width that fits a 100-column terminal."""

from __future__ import annotations

import click

# Inherited by every subcommand's context, so `reprokit run -h` works too.
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def summary_of(command: click.Command) -> str:
    """The one-line summary: an explicit short_help, else the docstring's first paragraph."""
    if command.short_help:
        return command.short_help
    first_paragraph = (command.help or "").strip().split("\n\n", 1)[0]
    return " ".join(first_paragraph.split())


class SummaryGroup(click.Group):
    """A click group whose command list shows complete summaries (wrapped, not truncated)."""

    # Groups declared with @group.group() get this class too.
    group_class = type

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [
            (name, summary_of(command))
            for name in self.list_commands(ctx)
            if (command := self.get_command(ctx, name)) is not None and not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
