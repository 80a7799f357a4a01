"""The project source files a node's result depends on, and their content hash.

A DVC stage must rerun when the code that computes its outputs changes, and only then, so
its deps are the modules of its node functions, dataset classes and validators plus every
project module they import (transitively, relative imports included), found by reading the
source, not importing it. The fingerprint's code hash and the node cache's key hash the
same files.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Protocol

from reprokit.core.content.files import file_sha256

SOURCE_DIRS = ("src", ".")
# The engines (engine.kind) run every pipeline's nodes: their code is part of each result.
# Every module of the package, not only what an engine module imports: an engine names its
# node implementations by import path (strings no import scan sees).
ENGINE_PACKAGE = "reprokit.engines"


class NodeCode(Protocol):
    """What of a pipeline node decides its code: its function and the datasets it touches
    (`reprokit.config.models.NodeSpec` is one)."""

    @property
    def func(self) -> str: ...

    @property
    def inputs(self) -> Mapping[str, str]: ...

    @property
    def output_names(self) -> list[str]: ...


Catalog = Mapping[str, Mapping[str, Any]]

# The paths `module_file` looked at, while a `recorded_probes` block collects them.
_probes: ContextVar[set[Path] | None] = ContextVar("reprokit_code_probes", default=None)


@contextmanager
def recorded_probes() -> Iterator[set[Path]]:
    """Collect every path `module_file` looks at inside the block, found or not.

    The closures depend on nothing else of the file system, so a result computed inside
    the block stays valid while none of these paths changes (appears, vanishes or is
    edited): what lets `reprokit dvc check` skip the closures when nothing moved.
    """
    probes: set[Path] = set()
    token = _probes.set(probes)
    try:
        yield probes
    finally:
        _probes.reset(token)


def module_file(module: str, root: Path) -> Path | None:
    """The project's source file of a module, or None for anything outside the project.

    Only the project tree is searched: `importlib.util.find_spec("sklearn.x")` would import
    sklearn itself, seconds of work for a module whose files DVC never hashes anyway.
    """
    relative = Path(*module.split("."))
    probes = _probes.get()
    for source_dir in SOURCE_DIRS:
        base = root / source_dir / relative
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if probes is not None:
                probes.add(candidate)
            if candidate.is_file():
                return candidate.resolve()
    return None


def absolute_module(module: str | None, level: int, package: str) -> str | None:
    """The absolute name `from <level dots><module> import ...` means inside `package`;
    None when the dots climb above the top-level package (Python refuses that import)."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    keep = len(parts) - (level - 1)
    if keep <= 0:
        return None
    base = ".".join(parts[:keep])
    return f"{base}.{module}" if module else base


def imported_modules(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module `source` (the code of `module`) may import: `import a.b`, `from a import
    b` (a, and a.b in case b is a module), relative imports resolved against its package."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for statement in _statements(ast.parse(source).body):
        if isinstance(statement, ast.Import):
            found.update(alias.name for alias in statement.names)
        elif isinstance(statement, ast.ImportFrom):
            base = absolute_module(statement.module, statement.level, package)
            if base is None:
                continue
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in statement.names)
    return found


# The fields through which a statement holds further statements (function, class, if, for,
# while, with, try and match bodies, except handlers and match cases).
_NESTED_STATEMENTS = ("body", "orelse", "finalbody", "handlers", "cases")


def _statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every statement of `body`, nested ones included (function-level imports count).

    Imports are statements, so expressions are never entered: a tenth of the nodes
    `ast.walk` visits for the same result.
    """
    for statement in body:
        yield statement
        for field in _NESTED_STATEMENTS:
            nested = getattr(statement, field, None)
            if isinstance(nested, list):
                yield from _statements(nested)


@lru_cache(maxsize=4096)
def _file_imports(
    path: Path, module: str, is_package: bool, stamp: tuple[int, int]
) -> frozenset[str]:
    """`imported_modules` of the file at `path`, read once per process and version of the
    file (`stamp`: its mtime and size): a stage's check renders every stage's closure, and
    the closures share most modules."""
    del stamp  # part of the cache key only
    source = path.read_text(encoding="utf-8")
    return frozenset(imported_modules(source, module, is_package=is_package))


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
        status = path.stat()
        stamp = (status.st_mtime_ns, status.st_size)
        pending.extend(_file_imports(path, module, path.name == "__init__.py", stamp))
    return sorted(str(path.relative_to(root)) for path in files)


def dataset_files(nodes: Iterable[NodeCode], catalog: Catalog) -> set[str]:
    """The datasets the nodes read or write that are files (have a catalog `filepath`)."""
    touched = {ds for node in nodes for ds in (*node.output_names, *node.inputs.values())}
    return {ds for ds in touched if "filepath" in catalog.get(ds, {})}


def _class_module(dotted: str) -> str:
    return dotted.rpartition(".")[0]


def code_modules(nodes: Iterable[NodeCode], catalog: Catalog) -> list[str]:
    """The modules of the nodes' functions and of their file datasets' classes and
    validators: where the code that computes their outputs starts."""
    nodes = list(nodes)
    modules = {_class_module(node.func) for node in nodes}
    for dataset in dataset_files(nodes, catalog):
        entry = catalog.get(dataset, {})
        modules.add(_class_module(str(entry.get("type", ""))))
        validator = entry.get("validator")
        if isinstance(validator, Mapping):
            modules.add(_class_module(str(validator.get("class", ""))))
        elif isinstance(validator, str):
            modules.add(_class_module(validator))
    return sorted(m for m in modules if m)


def engine_modules() -> list[str]:
    """Every module of the engines package (package `__init__`s come with their modules).

    Found by the package's location, not by importing it: importing the engines would pull
    the runner and Kedro into every hash.
    """
    spec = find_spec(ENGINE_PACKAGE)
    assert spec is not None and spec.submodule_search_locations, ENGINE_PACKAGE
    package = Path(next(iter(spec.submodule_search_locations)))
    return sorted(
        ".".join((ENGINE_PACKAGE, *path.relative_to(package).with_suffix("").parts))
        for path in package.rglob("*.py")
    )


def code_files(nodes: Iterable[NodeCode], catalog: Catalog, root: Path) -> list[str]:
    """Every project source file that computes the nodes' results, engines included: a DVC
    stage's code deps, and (for all the pipelines' nodes) what the fingerprint hashes."""
    return source_closure([*code_modules(nodes, catalog), *engine_modules()], root)


def code_hash(root: Path, files: Iterable[str]) -> str:
    """Content hash of the source files that compute the result (relative to `root`).

    Not the git commit: a commit that changes only docs or the CLI leaves the code that
    computes results, and so the fingerprint, unchanged.
    """
    digest = hashlib.sha256()
    for relative in sorted(files):
        digest.update(relative.encode("utf-8") + b"\0")
        digest.update(file_sha256(root / relative).encode("ascii") + b"\n")
    return digest.hexdigest()
