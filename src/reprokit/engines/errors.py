"""Errors of the execution engines (subclasses of reprokit's user-facing errors)."""

from __future__ import annotations

from reprokit.errors import ReprokitError


class EngineError(ReprokitError):
    """The engine cannot run the pipeline: an unreachable cluster, a lost worker, a dataset
    the engine cannot hold. The message names the engine key or dataset and what to do."""
