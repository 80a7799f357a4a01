"""Errors of sweeps a user can act on."""

from __future__ import annotations

from reprokit.errors import ReprokitError


class SweepNotFoundError(ReprokitError):
    """No sweep with that id (or parent run id) in the tracking store."""

    exit_code = 2


class SweepFailedError(ReprokitError):
    """Some jobs of a sweep failed; the others ran and the summary shows which."""


class TrialPrunedError(ReprokitError):
    """The tuner's pruner stopped a trial early: not a failure, a trial not worth finishing."""
