"""Checks on the files of conf/ themselves, before (or instead of) Hydra's view of them.

Hydra surfaces a YAML syntax error or a duplicate key as PyYAML's traceback, and a
defaults list that includes itself as a `RecursionError` thousands of lines long. These
checks name the file, the line and the key (or the files of the cycle) instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from reprokit.errors import ConfigError


class ConfFileError(ConfigError):
    """A conf/ file is not valid YAML or sets one key twice: names file, line and key."""


class DefaultsCycleError(ConfigError):
    """conf/ defaults lists include each other in a cycle: names the files in it."""


_KEY_LINE = re.compile(r"^\s*(?:-\s+)?([^\s#:'\"][^:#]*?)\s*:(?:\s|$)")


# libyaml's parser when PyYAML has it (conf/ is parsed on every compose); same safe subset.
_BASE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_BASE):  # type: ignore[valid-type,misc]
    """SafeLoader that refuses a mapping setting one key twice (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _DuplicateKeyError(key, seen[key], line)
            seen[key] = line
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


class _DuplicateKeyError(Exception):
    def __init__(self, key: Any, first: int, again: int) -> None:
        super().__init__(key, first, again)
        self.key, self.first, self.again = key, first, again


def key_near(lines: Sequence[str], line: int) -> str | None:
    """The key written on 1-based `line`, else on the nearest line above it (a syntax
    error is often reported on the line after the one that broke)."""
    for text in reversed(lines[: max(line, 0)]):
        found = _KEY_LINE.match(text)
        if found:
            return found.group(1)
    return None


def load_conf_file(path: Path, shown: str) -> Any:
    """The YAML of one conf/ file; ConfFileError naming `shown`, line and key otherwise."""
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKeyError as duplicate:
        raise ConfFileError(
            f"{shown}, line {duplicate.again}: key `{duplicate.key}` is set twice (first on "
            f"line {duplicate.first}); YAML would silently keep the last, so remove one"
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 0
        key = key_near(text.splitlines(), line)
        near = f" (at key `{key}`)" if key else ""
        raise ConfFileError(
            f"{shown}, line {line}{near}: not valid YAML: {error.problem or error}"
        ) from None


def check_conf_files(conf: Path) -> dict[Path, Any]:
    """Parse every YAML file under `conf`; the first bad one raises ConfFileError."""
    return {
        path: load_conf_file(path, f"{conf.name}/{path.relative_to(conf).as_posix()}")
        for path in sorted(conf.rglob("*.yaml"))
    }


def _strip(name: str) -> str:
    """A defaults entry's group without Hydra's keywords and `@package`."""
    for keyword in ("override ", "optional "):
        name = name.removeprefix(keyword).strip()
    return name.split("@", 1)[0]


def _resolve(conf: Path, here: Path, name: str) -> Path:
    """A defaults entry's path: `/x` from conf/, `x` from the including file's folder."""
    base = conf if name.startswith("/") else here.parent
    return base / f"{name.lstrip('/')}.yaml"


_CHOICE = re.compile(r"\$\{([\w/]+)\}")


def _with_choices(option: str, choices: Mapping[str, str]) -> str:
    """An option written as an interpolation of another group's choice (`${model}`, a
    Hydra defaults-list feature) with that choice; unknown ones stay as written."""
    return _CHOICE.sub(lambda found: choices.get(found.group(1), found.group(0)), option)


def defaults_of(
    conf: Path, path: Path, content: Any, choices: Mapping[str, str] | None = None
) -> Iterator[Path]:
    """The conf/ files a file's `defaults:` list includes: as written, or with `choices`
    ({group: option}, the command line's group overrides) replacing the options of those
    groups and filling the interpolations that name them."""
    chosen = choices or {}
    entries = content.get("defaults") if isinstance(content, Mapping) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, str) and entry != "_self_":
            yield _resolve(conf, path, _strip(entry))
        elif isinstance(entry, Mapping):
            for group, options in entry.items():
                name = _strip(str(group))
                overridden = chosen.get(name.lstrip("/"))
                picked = options if isinstance(options, list) else [options]
                for option in [overridden] if overridden else picked:
                    if isinstance(option, str):
                        yield _resolve(conf, path, f"{name}/{_with_choices(option, chosen)}")


def override_choices(overrides: Sequence[str]) -> dict[str, str]:
    """{group: option} of the command line's group overrides (`model=xgboost`,
    `+experiment=x`); key overrides (`seed=1`, `data.path=x`) are not groups."""
    choices: dict[str, str] = {}
    for override in overrides:
        key, equals, value = override.lstrip("+~").partition("=")
        group = key.split("@", 1)[0]
        if equals and "." not in group and value and not value.startswith(("[", "{")):
            choices[group] = value
    return choices


def find_cycle(graph: Mapping[Path, Sequence[Path]]) -> list[Path] | None:
    """One cycle of the include graph, first file repeated at the end, or None."""
    state: dict[Path, int] = {}  # 1: on the current path, 2: done
    stack: list[Path] = []

    def visit(node: Path) -> list[Path] | None:
        state[node] = 1
        stack.append(node)
        for child in graph.get(node, ()):
            if state.get(child) == 1:
                return [*stack[stack.index(child) :], child]
            if child not in state and (found := visit(child)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def check_defaults_cycle(conf: Path, overrides: Sequence[str] = ()) -> None:
    """DefaultsCycleError naming the files when conf/ defaults lists include each other,
    as written or once the command line's group `overrides` choose their options."""
    files = check_conf_files(conf)
    choices = override_choices(overrides)
    for chosen in ({}, choices) if choices else ({},):
        graph = {
            path: [p for p in defaults_of(conf, path, content, chosen) if p in files]
            for path, content in files.items()
        }
        cycle = find_cycle(graph)
        if cycle:
            raise _cycle_error(conf, cycle, overrides if chosen else ())


def _cycle_error(conf: Path, cycle: Sequence[Path], overrides: Sequence[str]) -> DefaultsCycleError:
    names = " -> ".join(f"{conf.name}/{p.relative_to(conf).as_posix()}" for p in cycle)
    through = f" (with the overrides {list(overrides)})" if overrides else ""
    return DefaultsCycleError(
        f"the defaults lists of conf/ include each other in a cycle{through}: {names}; remove "
        f"one of these entries from a `defaults:` list"
    )
