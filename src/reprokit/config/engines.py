"""Engines by `engine.kind`: the registry the config checks and reprokit.engines runs from.

An engine is a Kedro runner (reprokit.engines). The registry sits on the config floor so an
unknown `engine.kind` fails at validation, naming the file that set it, before any data is
written or any run recorded; the built-in runners are named by reference, so checking a
kind imports no engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reprokit.core.registry import Registry
from reprokit.errors import ConfigError

# A factory of the Kedro runner for one engine, called as `factory(engine=<EngineConfig>)`
# (a runner class whose constructor takes `engine=` is one).
RunnerFactory = Callable[..., Any]


class EngineKindError(ConfigError, ValueError):
    """`engine.kind` names no registered engine. A ValueError too, so config validation
    reports it against the file and key that set it."""


ENGINES: Registry[RunnerFactory] = Registry(
    key="engine.kind",
    group="reprokit.engines",
    register_call="reprokit.engines.register_engine(kind, runner_factory)",
    error=EngineKindError,
)
ENGINES.register("local", "reprokit.engines.local:LocalRunner")
ENGINES.register("dask", "reprokit.engines.dask:DaskRunner")


def check_engine_kind(kind: str) -> str:
    """`kind`, once it names a registered engine (nothing is imported to tell).

    Raises:
        EngineKindError: It does not; the message names the registered engines.
    """
    if not ENGINES.provides(kind):
        ENGINES.get(kind)  # raises, naming the key and the registered kinds
    return kind
