"""`data.read`: how the raw table's file is read (CSV dialect, encoding, spellings, clean-up).

One model for every entry point: the DVC stages and `reprokit run` (through the catalog's
`raw` dataset), `reprokit predict` (the packaged model carries the options it was trained
with), `reprokit monitor` and the Dask engine all read with `reprokit.io.read_table` and
these options. They are part of the experiment's config, so they flow through params.yaml
and a change reruns what depends on the raw table. Unknown keys are rejected like every
other config key. CSV options are ignored for Parquet files; the clean-up options (header
and value whitespace, case, renames, dates) apply to both.
"""

from __future__ import annotations

import codecs
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

KEY = "data.read"


def _one_character(value: str, name: str) -> str:
    if len(value) != 1:
        raise ValueError(f"{KEY}.{name} must be one character, got {value!r}")
    return value


class ReadOptions(BaseModel):
    """Read options of the raw table. Defaults read a plain UTF-8, comma-separated file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Any Python codec name (`latin-1`, `cp1252`, `utf-16`). A UTF-8 byte-order mark is
    # skipped with `utf-8` as with `utf-8-sig`: the two differ only on that mark.
    encoding: str = "utf-8"
    delimiter: str = ","
    decimal: str = "."
    thousands: str | None = None
    quotechar: str = '"'
    # None: pandas' usual markers (empty field, NA, N/A, null, NaN, ...). A list: exactly
    # these strings (and an empty field) are missing, nothing else.
    na_values: list[str] | None = None
    # Spellings read as True/False (CSV), e.g. [yes, y] / [no, n]; `True`/`False` in any
    # case are always booleans. A bool column holding other strings is a schema error.
    true_values: list[str] = []
    false_values: list[str] = []
    # Columns parsed as dates with `date_format` (strftime codes, e.g. "%d.%m.%Y"; null:
    # inferred; a mapping {column: format} when the columns differ, a date column it does
    # not name inferred) and `dayfirst` (03/04 is 3 April).
    date_columns: list[str] = []
    date_format: str | dict[str, str] | None = None
    dayfirst: bool = False
    strip_header: bool = False
    # Text values: strip surrounding whitespace / lowercase them ('Basic ' -> 'basic'), so
    # categories that differ only so become one.
    strip_values: bool = False
    lowercase_values: bool = False
    # Column renames applied after reading (and header stripping): {name in file: new name}.
    rename: dict[str, str] = Field(default_factory=dict)

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"{KEY}.encoding {value!r} is not a known codec (e.g. utf-8, latin-1, cp1252)"
            ) from None
        return value

    @field_validator("delimiter", "decimal", "quotechar")
    @classmethod
    def _single_character(cls, value: str, info: Any) -> str:
        return _one_character(value, info.field_name)

    @field_validator("thousands")
    @classmethod
    def _single_thousands(cls, value: str | None) -> str | None:
        return None if value is None else _one_character(value, "thousands")

    @model_validator(mode="after")
    def _coherent(self) -> ReadOptions:
        # A thousands separator equal to the delimiter is fine: `"1,234.5"` in a
        # comma-separated file is quoted, and pandas groups inside the quotes.
        if self.decimal in (self.delimiter, self.thousands):
            raise ValueError(
                f"{KEY}: delimiter {self.delimiter!r}, decimal {self.decimal!r} and thousands "
                f"{self.thousands!r}: the decimal mark and the other two must be different "
                "characters (only thousands may equal the delimiter)"
            )
        both = sorted(set(self.true_values) & set(self.false_values))
        if both:
            raise ValueError(f"{KEY}: {both} are in both true_values and false_values")
        if isinstance(self.date_format, dict):
            unknown = sorted(set(self.date_format) - set(self.date_columns))
            if unknown:
                raise ValueError(
                    f"{KEY}.date_format names {unknown}, which are not in {KEY}.date_columns "
                    f"{self.date_columns}; add them there or remove them from the mapping"
                )
        targets = list(self.rename.values())
        repeated = sorted({name for name in targets if targets.count(name) > 1})
        if repeated:
            raise ValueError(f"{KEY}.rename gives several columns the name(s) {repeated}")
        return self

    def format_of(self, column: str) -> str | None:
        """The date format of one date column (None: pandas infers it)."""
        if isinstance(self.date_format, dict):
            return self.date_format.get(column)
        return self.date_format

    @property
    def is_default(self) -> bool:
        return self == DEFAULT_READ


DEFAULT_READ = ReadOptions()


def as_read_options(value: ReadOptions | dict[str, Any] | None) -> ReadOptions:
    """The typed options from their params form (Kedro passes plain dicts; None: defaults)."""
    if value is None:
        return DEFAULT_READ
    return value if isinstance(value, ReadOptions) else ReadOptions.model_validate(value)
