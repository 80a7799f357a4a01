"""How much of reprokit the fast tests reach: the e2e share and the modules no unit test imports.

    python bench/unit_reach.py [--json]

A unit test here is a collected test without the `slow` mark. A module counts as imported by
a unit test when that test's file imports it (at module level, in a fixture or helper, or in
the body of a non-slow test; function-level imports count, as they do for import-linter),
directly or through the test helpers it imports (`tests.support`, `node_data`, ...) and the
conftest files above it. Two figures, because they answer different questions:

- direct: the test code names the module. A module only reached through another one is
  exercised at most incidentally, so this is the figure that says what is unit-tested.
- reached: the module is in the import closure (grimp, the graph import-linter builds) of
  something a unit test imports: it is at least loaded, even if no test calls it.

Subprocess runs (`run(["reprokit", ...])`) do not count: they are what the slow tests do.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grimp

PROJECT = Path(__file__).resolve().parents[1]
TESTS = PROJECT / "tests"
PACKAGE = "reprokit"


@dataclass(frozen=True)
class Collected:
    """Test ids pytest collects: all of them, and those marked slow."""

    all: frozenset[str]
    slow: frozenset[str]

    @property
    def unit(self) -> frozenset[str]:
        return self.all - self.slow


def _collect(*marker: str) -> frozenset[str]:
    """Collect only (never run): `pytest --collect-only -q`, one node id per line."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", *marker],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    )
    return frozenset(line for line in result.stdout.splitlines() if "::" in line)


def collect() -> Collected:
    return Collected(all=_collect(), slow=_collect("-m", "slow"))


def _test_function(node_id: str) -> tuple[str, str]:
    """`tests/a/test_b.py::test_c[param]` -> (`tests/a/test_b.py`, `test_c`); class-based
    ids keep the method name (the last part)."""
    path, _, rest = node_id.partition("::")
    return path, rest.rpartition("::")[2].partition("[")[0]


def _imported_names(tree: ast.AST, package: str) -> Iterator[str]:
    """Every dotted name an import statement under `tree` names; `from a import b` yields
    `a` and `a.b` (b may be a submodule). Relative imports resolve against `package`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _unit_scope_imports(path: Path, slow_functions: set[str]) -> set[str]:
    """Imports of a test file outside the bodies of its slow tests."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(PROJECT).parent.parts)
    names: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.ClassDef):
            parts: Iterable[ast.AST] = statement.body
        else:
            parts = [statement]
        for part in parts:
            name = getattr(part, "name", None)
            if name in slow_functions:
                continue
            names.update(_imported_names(part, package))
    return names


def _helper_path(name: str, near: Path) -> Path | None:
    """The test helper a dotted name refers to: `tests.x.y` from the root, a bare `node_data`
    from the test's own folder (pytest's rootdir-relative sys.path insertion)."""
    candidates = [PROJECT / Path(*name.split(".")).with_suffix(".py")]
    candidates.append(PROJECT / Path(*name.split(".")) / "__init__.py")
    if "." not in name:
        candidates.append(near / f"{name}.py")
    return next((c for c in candidates if c.is_file() and c.is_relative_to(TESTS)), None)


def _with_helpers(path: Path, names: set[str], seen: set[Path]) -> set[str]:
    """`names` plus everything the test helpers among them import, transitively."""
    result = set(names)
    for name in names:
        helper = _helper_path(name, path.parent)
        if helper is None or helper in seen:
            continue
        seen.add(helper)
        result |= _with_helpers(helper, _unit_scope_imports(helper, set()), seen)
    return result


def _conftests(path: Path) -> list[Path]:
    folders = [path.parent, *path.parent.parents]
    found = [f / "conftest.py" for f in folders if f.is_relative_to(TESTS)]
    return [c for c in found if c.is_file()]


def directly_imported(collected: Collected, modules: set[str]) -> set[str]:
    """The reprokit modules the unit tests' own code imports."""
    slow_by_file: dict[str, set[str]] = {}
    unit_files: set[str] = set()
    for node_id in collected.slow:
        file, function = _test_function(node_id)
        slow_by_file.setdefault(file, set()).add(function)
    # A function both slow and not (parametrized with a slow case) keeps its imports.
    for node_id in collected.unit:
        file, function = _test_function(node_id)
        unit_files.add(file)
        slow_by_file.get(file, set()).discard(function)
    names: set[str] = set()
    for file in sorted(unit_files):
        path = PROJECT / file
        own = _unit_scope_imports(path, slow_by_file.get(file, set()))
        for conftest in _conftests(path):
            own |= _unit_scope_imports(conftest, set())
        names |= _with_helpers(path, own, set())
    return {name for name in names if name in modules}


def reprokit_modules(graph: grimp.ImportGraph) -> set[str]:
    """Modules with code: a package `__init__` that only re-exports is not a module to test."""
    source = PROJECT / "src"
    modules = set()
    for module in graph.modules:
        path = source / Path(*module.split("."))
        file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        if path.is_dir() and len(file.read_text(encoding="utf-8").splitlines()) < 10:
            continue
        modules.add(module)
    return modules


def reached(graph: grimp.ImportGraph, start: set[str]) -> set[str]:
    closure = set(start)
    for module in start:
        closure |= graph.find_upstream_modules(module)
    return closure


def report(as_json: bool) -> str:
    collected = collect()
    graph = grimp.build_graph(PACKAGE, include_external_packages=False)
    modules = reprokit_modules(graph)
    direct = directly_imported(collected, modules)
    loaded = reached(graph, direct) & modules
    figures = {
        "tests": len(collected.all),
        "slow": len(collected.slow),
        "e2e_share": round(len(collected.slow) / len(collected.all), 3),
        "modules": len(modules),
        "not_imported_by_a_unit_test": sorted(modules - direct),
        "not_reached_by_a_unit_test": sorted(modules - loaded),
    }
    if as_json:
        return json.dumps(figures, indent=2)
    lines = [
        f"tests {figures['tests']}, slow {figures['slow']} (e2e share {figures['e2e_share']:.1%})",
        f"modules {len(modules)}: {len(modules - direct)} never imported by a unit test, "
        f"{len(modules - loaded)} not even in the import closure of one",
        "never imported directly:",
        *(f"  {m}" for m in figures["not_imported_by_a_unit_test"]),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="figures as JSON")
    print(report(parser.parse_args().json))


if __name__ == "__main__":
    main()
