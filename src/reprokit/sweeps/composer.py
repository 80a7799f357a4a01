"""One Hydra composition of conf/ for all of a sweep's jobs that differ only in values."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reprokit._compat.hydra import apply_value_overrides, split_value_overrides
from reprokit.config.compose import (
    CONF_DIR,
    Composition,
    compose,
    composition_of,
    hydra_config,
)
from reprokit.config.conf_files import check_defaults_cycle
from reprokit.errors import ConfigError


class Composer:
    """`compose` for many override lists (a sweep's jobs), at the cost of one Hydra
    composition per distinct set of config group choices.

    Hydra composes the defaults list (every file read and merged) and then applies the
    value overrides (`model.num_leaves=63`) to the result. Jobs that differ only in value
    overrides share the first part: each gets a copy with its own values applied by Hydra's
    own code (reprokit._compat.hydra), so its composition is `compose`'s. Anything else (an
    add, a delete, an error) is composed from scratch, which also words any error as
    `compose` does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._bases: dict[tuple[str, ...], tuple[Any, dict[str, Any]]] = {}

    def compose(self, overrides: Sequence[str]) -> Composition:
        from hydra.errors import HydraException
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        split = split_value_overrides(self.root / CONF_DIR, overrides)
        if split is None or not split[0]:
            return compose(self.root, overrides)
        values, groups = split
        try:
            base, choices = self._base(tuple(groups))
            cfg = copy.deepcopy(base)
            apply_value_overrides(cfg, values)
            OmegaConf.resolve(cfg)
        except (HydraException, OmegaConfBaseException, ConfigError, RecursionError):
            return compose(self.root, overrides)
        return composition_of(self.root, cfg, choices, overrides)

    def _base(self, groups: tuple[str, ...]) -> tuple[Any, dict[str, Any]]:
        if groups not in self._bases:
            check_defaults_cycle(self.root / CONF_DIR, groups)
            self._bases[groups] = hydra_config(self.root, groups)
        return self._bases[groups]
