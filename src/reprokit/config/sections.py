"""Validate one params section with its typed model, outside the whole-config validation."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from reprokit.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_section(model: type[ModelT], value: object, section: str) -> ModelT:
    """Validate one params section with its typed config model.

    The config layer validates the composed config first; nodes and models validate again
    because they can be called directly (notebooks, tests, serving) with hand-written params.
    """
    try:
        return model.model_validate(value)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join([section, *(str(part) for part in item['loc'])])}: {item['msg']}"
            for item in error.errors()
        )
        raise ConfigError(f"params {section!r} are invalid: {problems}") from None
