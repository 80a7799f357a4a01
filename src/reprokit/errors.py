"""Errors a user can act on. The CLI prints their message and exits non-zero; no traceback."""

from __future__ import annotations


class ReprokitError(Exception):
    """Base of every error that carries a message meant for the user."""

    exit_code = 1


class ConfigError(ReprokitError):
    """The composed config (or params.yaml) is invalid: names the key, value, file, expectation."""

    exit_code = 2


class PipelineSpecError(ReprokitError):
    """The declared pipeline spec cannot be turned into a runnable pipeline."""

    exit_code = 2


class DataError(ReprokitError):
    """A dataset violates its schema or cannot be read: names dataset, column and row counts."""


class LeakageError(DataError):
    """A split or feature set would leak the target, an id or the future into training."""


class QualityGateError(ReprokitError):
    """An evaluation metric missed the threshold declared in `evaluation.gate`."""


class StaleFileError(ReprokitError):
    """A generated file (params.yaml, dvc.yaml) no longer matches what generates it."""
