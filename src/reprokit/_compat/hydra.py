"""Hydra's private APIs (hydra-core 1.3): its override grammar and its sweep expansion,
used without `@hydra.main`.

reprokit composes with Hydra's compose API and runs jobs itself, so it has no Hydra
runtime; the parser needs a config loader on `conf/` (for `glob()` over config group
options) and the cartesian product is `BasicSweeper`'s own, so a sweep expands exactly as
`python app.py -m` would. None of the three has a public equivalent.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def override_parser(conf_dir: Path) -> Any:
    """Hydra's `OverridesParser` with a config loader on `conf_dir`."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.override_parser.overrides_parser import OverridesParser

    search_path = create_config_search_path(str(conf_dir.resolve()))
    return OverridesParser.create(config_loader=ConfigLoaderImpl(config_search_path=search_path))


def sweep_jobs(overrides: Sequence[Any]) -> list[list[str]]:
    """The jobs (each a list of `key=value`) of parsed overrides, in BasicSweeper's order;
    raises Hydra's `HydraException` when they cannot be expanded."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    # No batch size: one batch holding every job.
    batches = BasicSweeper.split_arguments(list(overrides), None)
    return [list(job) for job in batches[0]] if batches else [[]]


def split_value_overrides(
    conf_dir: Path, overrides: Sequence[str]
) -> tuple[list[str], list[str]] | None:
    """(value overrides, group choices), each in the given order, or None when an override
    is neither (an add, a delete, a package, a sweep, Hydra's own keys) or none parse.

    A group choice (`model=xgboost`) names a config group of `conf_dir`, Hydra's own test (a
    folder); a value override (`model.num_leaves=63`) names none, and is what Hydra's defaults
    list passes through to `_apply_overrides_to_config` after composing."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides=list(overrides))
    except HydraException:
        return None
    values: list[str] = []
    groups: list[str] = []
    for override in parsed:
        key = override.key_or_group
        plain = (
            override.type == OverrideType.CHANGE
            and not override.is_sweep_override()
            and override.package is None
            and not key.startswith("hydra")
        )
        if not plain:
            return None
        (groups if (conf_dir / key).is_dir() else values).append(str(override.input_line))
    return values, groups


def apply_value_overrides(cfg: Any, overrides: Sequence[str]) -> None:
    """Apply value overrides (`split_value_overrides`) to a composed config, in place, as
    Hydra applies them after composing the defaults list; raises Hydra's exceptions."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides=list(overrides))
    ConfigLoaderImpl._apply_overrides_to_config(parsed, cfg)
