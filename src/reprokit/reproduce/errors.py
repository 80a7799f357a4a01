"""What can stop a reproduction."""

from __future__ import annotations

from reprokit.errors import ReprokitError
from reprokit.tracking.runs import RunError


class DataUnavailableError(RunError):
    """An input file with the recorded content hash is neither in the workspace nor in DVC's
    cache."""


class ReproductionError(ReprokitError):
    """The reproduction itself could not be carried out (git worktree, the rerun)."""

    exit_code = 2
