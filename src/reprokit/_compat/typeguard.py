"""typeguard's `@typechecked` (typeguard 4.x) while a library that uses it is imported.

Feast 0.67 decorates its definition classes (Entity, FeatureView, FeatureService, the data
sources, the sqlite online store: 19 modules) with `@typechecked`, bound by `from typeguard
import typechecked` when each module is imported. For every decorated class typeguard reads
the module's source, parses it, rewrites the AST and compiles it again: at import, before
Feast does anything. Measured on the 2-core dev machine, `import feast` plus its dask offline
store: 3.8-5.8 s, 1.3-2.2 s with the decorator off (3 runs each, back to back); under
cProfile `typeguard._decorators.instrument` was 4.2 s of the 8.2 s `reprokit features
materialize`. Off is what typeguard itself does under `python -O` (the decorator returns its
target unchanged): Feast's own argument type checks are skipped, reprokit's calls into Feast
are the same, and the definitions it passes come from the generated, checked feature_repo/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def _unchecked(target: Any = None, **_options: Any) -> Any:
    """`typechecked` as it behaves under `python -O`: the target, unchanged (also when it
    is called with options only, as `@typechecked(...)`)."""
    if target is None:
        return _identity
    return target


def _identity(target: Any) -> Any:
    return target


@contextmanager
def typechecked_off() -> Iterator[None]:
    """Within: modules imported get `_unchecked` for `typeguard.typechecked`. Restored on
    exit, so a module imported afterwards (or typeguard's other users, e.g. Pandera's
    `check_type`) sees typeguard as it is."""
    import typeguard

    original: Callable[..., Any] = typeguard.typechecked
    typeguard.typechecked = _unchecked
    try:
        yield
    finally:
        typeguard.typechecked = original
