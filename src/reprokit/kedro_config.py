"""A Kedro config loader backed by params.yaml, the composed Hydra config.

`kedro run`, `kedro viz` and notebooks see exactly the parameters and catalog that the DVC
stages and `reprokit run` use; runtime params (`kedro run --params a.b=1`) override keys.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from kedro.config import AbstractConfigLoader, MissingConfigException

from reprokit.config.compose import read_params, validate
from reprokit.runner import catalog_config


def _set_dotted(target: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


class ReprokitConfigLoader(AbstractConfigLoader):
    """Serves `parameters`, `catalog` and `credentials` from params.yaml."""

    def __init__(
        self,
        conf_source: str,
        env: str | None = None,
        runtime_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conf_source=conf_source, env=env, runtime_params=runtime_params)
        self.root = Path(conf_source).resolve().parent

    def _params(self) -> dict[str, Any]:
        params = copy.deepcopy(read_params(self.root))
        for key, value in (self.runtime_params or {}).items():
            _set_dotted(params, key, value)
        return params

    def __getitem__(self, key: str) -> Any:
        if key == "parameters":
            return self._params()
        if key == "catalog":
            params = self._params()
            return catalog_config(validate(params), self.root)
        if key == "credentials":
            return {}
        raise MissingConfigException(f"reprokit serves no {key!r} config (params.yaml only)")

    def __repr__(self) -> str:
        return f"ReprokitConfigLoader(root={self.root})"
