"""Serving settings as the service reads them: pydantic-settings over the process env."""

from __future__ import annotations

import os

import pytest

from reprokit.serving.config import ENV_PREFIX, ServingSettings, serving_settings


def from_env(**env: str) -> ServingSettings:
    """What the service reads from a process environment whose REPROKIT_* variables are
    exactly `env` (the test's own environment is restored after)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.upper().startswith(ENV_PREFIX):
                patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        return serving_settings()
