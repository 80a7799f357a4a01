"""The rich console the commands print their tables to."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

# Piped output (tests, `| grep`, `| less`) gets a wide virtual terminal so that ids and
# hashes are never wrapped or cut; a real terminal keeps its own width.
PIPE_WIDTH = 240


def console() -> Console:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else PIPE_WIDTH, highlight=False)
