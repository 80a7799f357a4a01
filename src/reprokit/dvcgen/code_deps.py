"""The project source files a stage's code depends on: node modules and their imports.

A DVC stage must rerun when the code that computes its outputs changes, and only then, so
its deps are the modules of its node functions, dataset classes and validators plus every
project module they import (transitively), found by reading the source, not importing it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

SOURCE_DIRS = ("src", ".")


def _project_module_file(module: str, root: Path) -> Path | None:
    """The module's file inside the project, where the project's own code lives."""
    relative = Path(*module.split("."))
    for source_dir in SOURCE_DIRS:
        base = root / source_dir / relative
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate.resolve()
    return None


def module_file(module: str, root: Path) -> Path | None:
    """The project's source file of a module, or None for anything outside the project.

    Only the project tree is searched: `importlib.util.find_spec("sklearn.x")` would import
    sklearn itself, seconds of work for a module whose files DVC never hashes anyway.
    """
    return _project_module_file(module, root)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for statement in ast.walk(tree):
        if isinstance(statement, ast.Import):
            found.update(alias.name for alias in statement.names)
        elif isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
            found.add(statement.module)
            found.update(f"{statement.module}.{alias.name}" for alias in statement.names)
    return found


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def source_closure(modules: Iterable[str], root: Path) -> list[str]:
    """Files under `root` of `modules`, their packages' `__init__`s and their imports."""
    pending = list(modules)
    seen_modules: set[str] = set()
    files: set[Path] = set()
    root = root.resolve()
    while pending:
        module = pending.pop()
        if module in seen_modules:
            continue
        seen_modules.add(module)
        path = module_file(module, root)
        if path is None or ".venv" in path.parts:
            continue
        files.add(path)
        pending.extend(_parents(module))
        pending.extend(_imported_modules(path))
    return sorted(str(path.relative_to(root)) for path in files)
