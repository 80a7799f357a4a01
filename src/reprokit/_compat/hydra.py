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
