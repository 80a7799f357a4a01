"""Turn pydantic validation errors into messages naming key, value, file and expectation."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from reprokit.config.models import REGISTERED_MODEL_TAG, ReprokitConfig

Provenance = Callable[[str], str]


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types behind Optional/Union/Annotated."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _field_types(model: type[BaseModel], key: str) -> list[Any]:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return _unwrap(field.annotation)
    return []


def models_at(path: Sequence[str], *, into_lists: bool = False) -> list[type[BaseModel]]:
    """The config models that can sit at `path` (several for a tagged union); with
    `into_lists`, a numeric part indexes a list of models (`features.derived.0`)."""
    current: list[Any] = [ReprokitConfig]
    for part in path:
        following: list[Any] = []
        for candidate in current:
            origin = typing.get_origin(candidate)
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                following.extend(_field_types(candidate, part))
            elif origin is dict:
                following.extend(_unwrap(typing.get_args(candidate)[1]))
            elif origin is list and into_lists and part.isdigit():
                following.extend(_unwrap(typing.get_args(candidate)[0]))
        current = following
    return [c for c in current if isinstance(c, type) and issubclass(c, BaseModel)]


def _allowed_keys(parent: Sequence[str], tags: Sequence[str] = ()) -> list[str]:
    """The keys allowed under `parent`; under a tagged union, those of the tagged branch."""
    models = models_at(parent, into_lists=True)
    branch = [model for model in models if _kind_literal(model) & set(tags)]
    keys = {
        field.alias or name
        for model in branch or models
        for name, field in model.model_fields.items()
    }
    return sorted(keys)


def _kind_literal(model: type[BaseModel]) -> set[str]:
    """The tag values of a tagged-union branch (its `kind: Literal[...]`), else none."""
    field = model.model_fields.get("kind")
    if field is None or typing.get_origin(field.annotation) is not typing.Literal:
        return set()
    return {str(value) for value in typing.get_args(field.annotation)}


def _key_parts(loc: Sequence[int | str]) -> list[str]:
    """Dotted key from a pydantic `loc`, without the union-branch tags pydantic inserts
    (`list[str]`, or `synthetic_credit` in `data.source.synthetic_credit.rows`): the key is
    what the user writes, `data.source.rows`."""
    parts: list[str] = []
    for element in loc:
        text = str(element)
        if "[" in text or text in {"str", "int", "float", "bool", "none"}:
            continue
        if parts and _is_union_tag(parts, text) and not models_at([*parts, text]):
            continue
        parts.append(text)
    return parts


def _is_union_tag(parts: Sequence[str], text: str) -> bool:
    """`text` is the tag (discriminator value, e.g. `kind: ratio`) of a branch of the tagged
    union at `parts`, which pydantic puts in the error's location."""
    models = models_at(parts, into_lists=True)
    tags = {
        value
        for model in models
        for field in model.model_fields.values()
        if typing.get_origin(field.annotation) is typing.Literal
        for value in typing.get_args(field.annotation)
    }
    # A learner of the user's own (`model.kind` not built in) is the union's `registered`
    # branch: a callable discriminator's tag, not a Literal.
    return len(models) > 1 and (text in tags or text == REGISTERED_MODEL_TAG)


def did_you_mean(parts: Sequence[str], allowed: Sequence[str]) -> str:
    """`; did you mean `data.read.encoding`?` for the allowed key closest to a typo, if any."""
    if not parts:
        return ""
    close = difflib.get_close_matches(parts[-1], allowed, n=1, cutoff=0.6)
    return f"; did you mean `{'.'.join([*parts[:-1], close[0]])}`?" if close else ""


def _sources(error: Any, key: str, provenance: Provenance) -> str:
    """Where the keys at fault were set: a validator's error may name keys below `key`
    (`data.source.path` under `data.source`), each set by its own file or override."""
    raised = (error.get("ctx") or {}).get("error")
    keys = [str(fault) for fault in getattr(raised, "keys", None) or (key,)]
    # A `kind` decides which keys its section takes: named apart, as the context.
    kinds = [fault for fault in keys if fault.endswith(".kind")]
    faults = [fault for fault in keys if fault not in kinds] or kinds
    where = " and ".join(dict.fromkeys(provenance(fault) for fault in faults))
    context = {provenance(kind) for kind in kinds} - {where}
    return f"{where} (its kind set in {context.pop()})" if context else where


def _describe_error(error: Any, provenance: Provenance) -> tuple[str, str]:
    parts = _key_parts(error["loc"])
    key = ".".join(parts) or "<root>"
    source = _sources(error, key, provenance)
    value = error.get("input")
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(parts[:-1], [str(part) for part in error["loc"]])
        return key, (
            f"unknown key `{key}` (value {value!r}) in {source}{did_you_mean(parts, allowed)}; "
            f"allowed keys here: {allowed}"
        )
    if error["type"] == "missing":
        return key, f"missing key `{key}` (required) in {source}"
    message = str(error["msg"]).removeprefix("Value error, ")
    shown = "" if isinstance(value, dict) else f" (value {value!r})"
    return key, f"`{key}`{shown} in {source}: {message}"


def explain_lines(error: ValidationError, provenance: Provenance) -> list[str]:
    """One line per bad key of one validation, merging a union's branch errors."""
    lines: dict[str, list[str]] = {}
    for item in error.errors():
        key, line = _describe_error(item, provenance)
        if line not in lines.setdefault(key, []):
            lines[key].append(line)
    return [" | ".join(messages) for messages in lines.values()]


def report(problems: Sequence[str]) -> str:
    """The one message of a failed validation: its problems, one line each."""
    count = len(problems)
    return f"invalid config ({count} problem{'s' if count != 1 else ''}):\n  - " + "\n  - ".join(
        problems
    )


def explain(error: ValidationError, provenance: Provenance) -> str:
    """All problems of one validation, one line each, merging a union's branch errors."""
    return report(explain_lines(error, provenance))
