"""The local engine: Kedro's sequential runner, in-process pandas, nodes exactly as declared."""

from __future__ import annotations

from kedro.runner import SequentialRunner

from reprokit.config.models import EngineConfig


class LocalRunner(SequentialRunner):
    """`engine.kind: local`. The `engine` section holds nothing the runner needs (LightGBM's
    `num_threads` reaches the training node as a param); it is taken for a uniform factory."""

    def __init__(self, engine: EngineConfig | None = None, is_async: bool = False) -> None:
        super().__init__(is_async=is_async)
        self.engine = engine or EngineConfig()
