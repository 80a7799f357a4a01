"""A user's package, installed for one test: real distribution metadata with entry points.

`importlib.metadata` finds it on `sys.path` exactly as it finds a package installed with
pip or uv, so a registry that discovers kinds through entry points is tested for real.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from reprokit.core.registry import Registry


def install_plugin(
    monkeypatch: pytest.MonkeyPatch,
    where: Path,
    module: str,
    source: str,
    entry_points: dict[str, dict[str, str]],
) -> None:
    """Make `module` (with `source`) importable and declare `entry_points` ({group: {name:
    "module:attribute"}}) in its distribution's metadata, for this test only."""
    (where / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = where / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n", encoding="utf-8"
    )
    sections = [
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items())
        for group, points in entry_points.items()
    ]
    (info / "entry_points.txt").write_text("\n".join(sections), encoding="utf-8")
    monkeypatch.syspath_prepend(str(where))


@contextmanager
def restored(registry: Registry[Any]) -> Iterator[None]:
    """What the block registers in `registry` is gone after it."""
    declared = dict(registry._declared)
    try:
        yield
    finally:
        registry._declared = declared
        registry._loaded.clear()
