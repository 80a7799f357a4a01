"""Request records (parsed JSON) -> a frame with the training dtypes, validated by Pandera.

JSON has no dtypes, so each declared column is first built from the records with the
dtype the training data had (a wrong JSON type is a violation naming its rows); then the
same Pandera schema that guards training data checks nullability, bounds, sets and
uniqueness. Every problem is reported at once as `Violation`s (field, rule, row indexes):
the service answers 422 with them, never 500.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
from pandas.errors import OutOfBoundsDatetime

from reprokit.config.models import ColumnSpec, SchemaSpec
from reprokit.logs import get_logger
from reprokit.serving.fastcheck import CompiledChecks, Failure, compile_checks

log = get_logger(__name__)

MAX_ROWS_LISTED = 20
# A 422 lists at most this many violations (plus their total count): one request with
# 700,000 unknown fields otherwise answered 84 MB. With field names and quoted values
# clipped too, a 422 stays well under 1 MB whatever the request.
MAX_VIOLATIONS_LISTED = 100
MAX_TEXT_CHARS = 200


def clip(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """`text` cut to `limit` characters, saying so: request text echoed back in a 422."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


@dataclass(frozen=True)
class Violation:
    """One broken rule: the field (None for the request as a whole), the rule, the rows."""

    field: str | None
    rule: str
    message: str
    rows: list[int] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        shown = self.rows[:MAX_ROWS_LISTED]
        return {
            "field": None if self.field is None else clip(self.field),
            "rule": self.rule,
            "message": self.message,
            "rows": shown,
            "row_count": len(self.rows),
        }


class RequestValidationError(Exception):
    """The request breaks the schema; carries every violation found."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        shown = violations[:MAX_VIOLATIONS_LISTED]
        more = len(violations) - len(shown)
        super().__init__(
            "; ".join(f"{v.field}: {v.message}" for v in shown)
            + (f"; and {more} more" if more else "")
        )

    def as_dict(self) -> dict[str, Any]:
        """The 422 body: the first `MAX_VIOLATIONS_LISTED` violations and how many there are."""
        shown = self.violations[:MAX_VIOLATIONS_LISTED]
        body: dict[str, Any] = {
            "error": "the request violates the model's input schema",
            "violations": [violation.as_dict() for violation in shown],
            "violation_count": len(self.violations),
        }
        if len(shown) < len(self.violations):
            body["truncated"] = (
                f"only the first {len(shown)} of {len(self.violations)} violations are listed"
            )
        return body


def _no_checkpoint(stage: str) -> None:
    pass


@dataclass(frozen=True)
class Columns:
    """A columnar request body, `{"columns": {"field": [value, ...], ...}}`: row i is the
    i-th value of every column. Validated like the records it spells, with the same answers."""

    values: Mapping[str, Sequence[Any]]


# What a request scores: its records, or its columns.
Rows = Sequence[Any] | Columns


def request_rows(records: Sequence[Any] | None, columns: Mapping[str, Any] | None) -> Rows:
    """The rows of a body with `records` or `columns` (exactly one of them).

    Raises:
        RequestValidationError: Both or neither.
    """
    if (records is None) == (columns is None):
        given = "both" if records is not None else "neither"
        raise RequestValidationError(
            [Violation(None, "body", f"send `records` or `columns`, exactly one; got {given}")]
        )
    return records if records is not None else Columns(columns or {})


def row_count(rows: Rows) -> int:
    """How many rows a request body sends (its first column's length for `Columns`)."""
    if isinstance(rows, Columns):
        return len(next(iter(rows.values.values()), []))
    return len(rows)


def validate_records(
    records: Rows,
    spec: SchemaSpec,
    max_records: int,
    checkpoint: Callable[[str], None] = _no_checkpoint,
    *,
    compiled: bool = True,
) -> pd.DataFrame:
    """The records (or `Columns`) as a validated frame with the training dtypes.

    `checkpoint(stage)` is called before each step and column (the service's request
    deadline raises from it, so a request past its deadline stops here). The schema's
    checks run compiled (reprokit.serving.fastcheck) where the schema allows; `compiled`
    False has Pandera run them instead (the property tests compare the two).

    Raises:
        RequestValidationError: Every violation: request shape, missing or unexpected
            fields, wrong JSON types, then the schema's own checks.
    """
    if isinstance(records, Columns):
        rows = _column_rows(records, max_records)
        checkpoint("fields")
        _raise_if(_column_field_violations(records, rows, spec))
        values_of = functools.partial(_column_values, records)
    else:
        _raise_if(_shape_violations(records, max_records))
        rows = len(records)
        checkpoint("fields")
        _raise_if(_field_violations(records, spec))
        values_of = functools.partial(_record_values, records)
    columns, violations = _typed_columns(values_of, spec, checkpoint)
    _raise_if(violations)
    checkpoint("schema")
    return _schema_checked(columns, rows, spec, compiled)


def _column_values(columns: Columns, name: str) -> list[Any]:
    return list(columns.values[name])


def _record_values(records: Sequence[dict[str, Any]], name: str) -> list[Any]:
    return [record[name] for record in records]


def _raise_if(violations: list[Violation]) -> None:
    if violations:
        raise RequestValidationError(violations)


def _count_violations(rows: int, max_records: int, body: str) -> list[Violation]:
    if rows == 0:
        return [Violation(None, "min_records", f"`{body}` is empty; expected at least 1 record")]
    if rows > max_records:
        return [
            Violation(None, "max_records", f"{rows} records; at most {max_records} per request")
        ]
    return []


def _shape_violations(records: Sequence[Any], max_records: int) -> list[Violation]:
    counted = _count_violations(len(records), max_records, "records")
    if counted:
        return counted
    not_objects = [row for row, record in enumerate(records) if not isinstance(record, dict)]
    if not_objects:
        return [Violation(None, "type", "each record must be a JSON object", not_objects)]
    return []


def _field_violations(records: Sequence[dict[str, Any]], spec: SchemaSpec) -> list[Violation]:
    declared = set(spec.columns)
    missing: dict[str, list[int]] = {}
    extra: dict[str, list[int]] = {}
    for row, record in enumerate(records):
        for name in spec.columns:
            if name not in record:
                missing.setdefault(name, []).append(row)
        for name in record:
            if name not in declared:
                extra.setdefault(str(name), []).append(row)
    violations = [Violation(name, "required", REQUIRED, rows) for name, rows in missing.items()]
    # strict: "filter" drops unknown fields, as it drops unknown columns in training data.
    if spec.strict is True:
        violations += [
            Violation(name, "unexpected_field", UNEXPECTED, rows)
            for name, rows in sorted(extra.items())
        ]
    return violations


REQUIRED = "field is required (send null for a missing value)"
UNEXPECTED = "field is not in the schema"


def _column_rows(columns: Columns, max_records: int) -> int:
    """The number of rows the columns hold (each the same), else a violation."""
    lengths = {str(name): len(values) for name, values in columns.values.items()}
    if len(set(lengths.values())) > 1:
        shown = dict(list(lengths.items())[:10])
        _raise_if(
            [
                Violation(
                    None,
                    "column_lengths",
                    f"every column must hold one value per row; lengths: {shown}",
                )
            ]
        )
    rows = next(iter(lengths.values()), 0)
    _raise_if(_count_violations(rows, max_records, "columns"))
    return rows


def _column_field_violations(columns: Columns, rows: int, spec: SchemaSpec) -> list[Violation]:
    """The violations of the records the columns spell: a field missing from, or unexpected
    in, every row."""
    every_row = list(range(rows))
    violations = [
        Violation(name, "required", REQUIRED, every_row)
        for name in spec.columns
        if name not in columns.values
    ]
    if spec.strict is True:
        violations += [
            Violation(name, "unexpected_field", UNEXPECTED, every_row)
            for name in sorted(map(str, columns.values))
            if name not in spec.columns
        ]
    return violations


# --- JSON values -> typed columns ------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Each builder first tries one vectorised conversion when every value has an expected
# exact type (what JSON parsing produces); only a column that fails it pays for the
# per-row checks, which find and name the offending rows. Per-row Python checks cost more
# than the model's predict on a 1000-row request.
def _only(values: list[Any], *allowed: type) -> bool:
    """Every value's exact type is one of `allowed` (`bool` is never taken for `int`)."""
    return set(map(type, values)) <= set(allowed)


def _integer_column(values: list[Any]) -> tuple[Any, list[int], str]:
    if _only(values, int):
        try:
            return np.asarray(values, dtype=np.int64), [], ""
        except OverflowError:
            pass  # the per-row checks name the rows out of range
    bad = [
        row
        for row, value in enumerate(values)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool))
    ]
    if bad:
        return None, bad, "expected an integer"
    nulls = [row for row, value in enumerate(values) if value is None]
    if nulls:
        # An int64 column cannot hold a missing value (training data could not either).
        return None, nulls, "null is not allowed in an integer field"
    out_of_range = [row for row, value in enumerate(values) if not -(2**63) <= value < 2**63]
    if out_of_range:
        return None, out_of_range, "integer out of the int64 range"
    return np.asarray(values, dtype=np.int64), [], ""


def _float_column(values: list[Any]) -> tuple[Any, list[int], str]:
    built: np.ndarray[Any, Any] | None = None
    if _only(values, float, int, type(None)):
        # An integer past the float64 range overflows: the per-row checks name it.
        with contextlib.suppress(OverflowError):
            built = np.asarray(values, dtype=np.float64)  # None -> NaN
    if built is None:
        bad = [
            row for row, value in enumerate(values) if value is not None and not _is_number(value)
        ]
        if bad:
            return None, bad, "expected a number"
        try:
            built = np.asarray(
                [math.nan if value is None else float(value) for value in values], dtype=np.float64
            )
        except OverflowError:
            huge = [
                row for row, value in enumerate(values) if _is_number(value) and abs(value) > 1e308
            ]
            return None, huge, "number out of the float64 range"
    non_finite = _non_finite_rows(values, built)
    if non_finite:
        return None, non_finite, NON_FINITE
    past_range = _integers_past_float64(values, built)
    if past_range:
        return None, past_range, "number out of the float64 range"
    return built, [], ""


_FLOAT64_MAX = float(np.finfo(np.float64).max)
# The bound the OpenAPI document declares for a float column without bounds of its own is
# the decimal 1.7976931348623157e308 (repr of the largest float64), and a JSON number means
# the decimal it spells: an integer past that decimal is out of range, even one below the
# float's exact binary value, which float() rounds to it (schemathesis sends that + 1).
_FLOAT64_MAX_SPELLED = int(Fraction(repr(_FLOAT64_MAX)))


def _integers_past_float64(values: list[Any], built: np.ndarray[Any, Any]) -> list[int]:
    """Integer literals past the declared float64 range that came out as its largest value
    instead of overflowing. Only rows at that value are looked at (one vectorised pass)."""
    at_limit = np.flatnonzero(np.abs(built) == _FLOAT64_MAX)
    return [
        int(row)
        for row in at_limit
        if isinstance(values[row], int) and abs(values[row]) > _FLOAT64_MAX_SPELLED
    ]


# JSON has no NaN or Infinity, yet Python's and pydantic's parsers read the `NaN`/`Infinity`
# literals and round `1e309` to inf. No schema field declares non-finite values allowed
# (ColumnSpec has no such option, and training data is null, not NaN, where a value is
# missing), so they are refused rather than scored; null stays the way to send "missing".
NON_FINITE = (
    "expected a finite number (NaN, Infinity and values past the float64 range are refused; "
    "send null for a missing value)"
)


def _non_finite_rows(values: list[Any], built: np.ndarray[Any, Any]) -> list[int]:
    if bool(np.isfinite(built).all()):
        return []  # the common case, one vectorised pass
    return [
        row for row, value in enumerate(values) if value is not None and not math.isfinite(value)
    ]


def _not_strings(values: list[Any]) -> list[int]:
    return [
        row for row, value in enumerate(values) if value is not None and not isinstance(value, str)
    ]


def _string_column(values: list[Any]) -> tuple[Any, list[int], str]:
    bad = [] if _only(values, str, type(None)) else _not_strings(values)
    if bad:
        return None, bad, "expected a string"
    return pd.Series(values, dtype="str"), [], ""


def _bool_column(values: list[Any]) -> tuple[Any, list[int], str]:
    bad = [row for row, value in enumerate(values) if not isinstance(value, bool)]
    if bad:
        return None, bad, "expected true or false"
    return np.asarray(values, dtype=bool), [], ""


# Strict ISO 8601: a calendar date (real days only, 29 February in leap years), optionally a
# time to the nanosecond, `T` or a space between. pandas alone also reads `now`, `today`,
# `01-03-2024` or `20240301`, which are not dates a client should be able to send. No zone:
# training timestamps are naive, and a zone would silently shift the date parts. Years 1678
# to 2261: the whole years a datetime64[ns] column (the model's) holds, so that the
# OpenAPI document (reprokit.serving.openapi) can state the accepted set exactly with this
# same pattern. [0-9], not \d: the same in Python and in JSON Schema (ECMA 262) regexes.
_YEAR = "(?:16(?:7[89]|[89][0-9])|1[7-9][0-9]{2}|2[01][0-9]{2}|22(?:[0-5][0-9]|6[01]))"
_MONTH_DAY = (
    "(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    "|(?:0[13-9]|1[0-2])-(?:29|30)"
    "|(?:0[13578]|1[02])-31)"
)
# The leap years among them (every 4th, but not 1700, 1800, 1900, 2100, 2200).
_LEAP_YEAR = (
    "(?:16(?:8[048]|9[26])"
    "|(?:1[789]|21)(?:0[48]|[2468][048]|[13579][26])"
    "|20(?:[02468][048]|[13579][26])"
    "|22(?:0[48]|[24][048]|[135][26]|60))"
)
_TIME = "(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.][0-9]{1,9})?)?)?"
TIMESTAMP_PATTERN = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29){_TIME}"
_ISO_8601 = re.compile(TIMESTAMP_PATTERN)
TIMESTAMP_EXPECTED = (
    "expected an ISO 8601 date or timestamp without a time zone, years 1678 to 2261 "
    "(YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS[.fffffffff]])"
)
# What the datetime64[ns] column the model was trained on can hold; the pattern keeps
# within it, this stays as the guard of the conversion itself.
TIMESTAMP_RANGE = (
    f"timestamp outside the range {pd.Timestamp.min.isoformat()} .. {pd.Timestamp.max.isoformat()}"
)


def _is_iso_8601(value: Any) -> bool:
    return isinstance(value, str) and _ISO_8601.fullmatch(value) is not None


def _datetime_column(values: list[Any]) -> tuple[Any, list[int], str]:
    if _only(values, str) and all(map(_ISO_8601.fullmatch, values)):
        parsed_all = _parse_all(values)
        if parsed_all is not None:
            return parsed_all, [], ""
    bad = [row for row, value in enumerate(values) if value is not None and not _is_iso_8601(value)]
    if bad:
        return None, bad, TIMESTAMP_EXPECTED
    parsed = [None if value is None else _parse_timestamp(value) for value in values]
    for problem in (TIMESTAMP_EXPECTED, TIMESTAMP_RANGE):
        rows = [row for row, stamp in enumerate(parsed) if stamp == problem]
        if rows:
            return None, rows, problem
    return pd.Series(parsed, dtype="datetime64[ns]"), [], ""


def _parse_all(values: list[str]) -> np.ndarray[Any, Any] | None:
    """All of `values` (each strict ISO 8601) in one parse, or None if any needs a closer
    look: the per-value path then finds which. numpy's ISO 8601 parser, not pandas' (a
    tenth of its cost on one value): within TIMESTAMP_PATTERN the two read every string
    alike (tests/serving/test_request.py holds them to it)."""
    try:
        return np.asarray(values, dtype="datetime64[ns]")
    except (ValueError, TypeError, OverflowError):
        return None


def _parse_timestamp(value: str) -> pd.Timestamp | str:
    """The timestamp at nanosecond resolution, or the problem with it."""
    try:
        stamp = pd.Timestamp(value)
    except OutOfBoundsDatetime:
        return TIMESTAMP_RANGE
    except (ValueError, TypeError, OverflowError):  # e.g. 2024-02-30, 25:00
        return TIMESTAMP_EXPECTED
    try:
        # pandas 3 keeps a coarser unit for far dates; the model's column is nanoseconds.
        return stamp.as_unit("ns")
    except (OutOfBoundsDatetime, OverflowError):
        return TIMESTAMP_RANGE


def column_kind(column: ColumnSpec) -> str | None:
    """What JSON value a column takes: integer, number, string, boolean or timestamp (a
    string); None for a dtype JSON cannot express directly (Pandera judges it)."""
    dtype = column.dtype.lower()
    if dtype.startswith(("int", "uint")):
        return "integer"
    if dtype.startswith("float"):
        return "number"
    if dtype in ("str", "string", "object", "category") or dtype.startswith("string["):
        return "string"
    if dtype in ("bool", "boolean"):
        return "boolean"
    if dtype.startswith("datetime64"):
        return "timestamp"
    return None


_BUILDERS: dict[str, Callable[[list[Any]], tuple[Any, list[int], str]]] = {
    "integer": _integer_column,
    "number": _float_column,
    "string": _string_column,
    "boolean": _bool_column,
    "timestamp": _datetime_column,
}


def _builder(column: ColumnSpec) -> Callable[[list[Any]], tuple[Any, list[int], str]] | None:
    kind = column_kind(column)
    return None if kind is None else _BUILDERS[kind]


def _typed_columns(
    values_of: Callable[[str], list[Any]],
    spec: SchemaSpec,
    checkpoint: Callable[[str], None] = _no_checkpoint,
) -> tuple[dict[str, Any], list[Violation]]:
    columns: dict[str, Any] = {}
    violations: list[Violation] = []
    for name, column in spec.columns.items():
        checkpoint("columns")
        values = values_of(name)
        build = _builder(column)
        if build is None:  # a dtype JSON cannot express directly: Pandera judges it
            columns[name] = pd.Series(values, dtype=object)
            continue
        built, rows, message = build(values)
        if rows:
            violations.append(Violation(name, "dtype", f"{message} ({column.dtype})", rows))
        else:
            columns[name] = built
    return columns, violations


def _frame(columns: dict[str, Any], rows: int) -> pd.DataFrame:
    # copy=False: the columns were built for this request and nothing else holds them, and
    # pandas' default for a dict copies them into one block per dtype. On a 1-row request
    # that copy cost about 0.13 ms of a 1.0 ms path (bench/README.md); the feature code
    # reads the frame column by column, so it never needs the consolidated blocks.
    return pd.DataFrame(columns, index=pd.RangeIndex(rows), copy=False)


# --- the training schema's own checks ----------------------------------------------------------


def _rule_name(check: str) -> str:
    readable = {"not_nullable": "not_nullable", "field_uniqueness": "unique"}
    if check in readable:
        return readable[check]
    return check.split("(", 1)[0]


# The dtypes `_typed_columns`'s builders produce exactly as declared (np.int64, np.float64,
# pandas "str", bool, datetime64[ns]).
_BUILT_DTYPES = frozenset({"int64", "float64", "str", "bool", "datetime64[ns]"})


@dataclass(frozen=True)
class RequestChecks:
    """A request schema's checks: the Pandera schema, and its compiled form (None, with
    the reason, when some check cannot be compiled: Pandera then checks every request)."""

    spec: SchemaSpec
    schema: Any
    compiled: CompiledChecks | None
    not_compiled: str


# Built checks by the id of their spec (kept alive beside it, so the id is never reused):
# building a Pandera schema costs about as much as validating 1000 rows, once per model is
# enough.
_BUILT_CHECKS: dict[int, RequestChecks] = {}


def request_checks(spec: SchemaSpec) -> RequestChecks:
    """The checks of `spec` for requests, built once per spec (the service builds them at
    start-up: a first request would otherwise pay for importing Pandera and building the
    schema, about 0.8 s)."""
    from reprokit.schemas import build_schema

    cached = _BUILT_CHECKS.get(id(spec))
    if cached is None or cached.spec is not spec:
        # `_typed_columns` built these columns with exactly their declared dtype, so Pandera's
        # dtype check (about a third of its time per request) is dropped for them; its value
        # checks (nullability, bounds, sets, uniqueness) all stay.
        built_exactly = {
            name: {"dtype": None, "coerce": False}
            for name, column in spec.columns.items()
            if column.dtype.lower() in _BUILT_DTYPES
        }
        schema = build_schema(spec, name="request").update_columns(built_exactly)
        dtypes = {name: column.dtype for name, column in spec.columns.items()}
        compiled, reason = compile_checks(schema, dtypes)
        if compiled is None:
            log.warning("serving.schema_checks_not_compiled", reason=reason)
        cached = RequestChecks(spec, schema, compiled, reason)
        _BUILT_CHECKS[id(spec)] = cached
    return cached


def request_schema(spec: SchemaSpec) -> Any:
    """The Pandera schema of `spec` for requests (`request_checks`)."""
    return request_checks(spec).schema


def _schema_checked(
    columns: dict[str, Any], rows: int, spec: SchemaSpec, compiled: bool
) -> pd.DataFrame:
    checks = request_checks(spec)
    if compiled and checks.compiled is not None:
        # Checked before the frame is built: on a 1-row request, pandas' per-column
        # indexing costs more than the checks themselves.
        failures = checks.compiled.failures(columns)
        frame = _frame(columns, rows)
    else:
        frame, failures = _pandera_checked(checks.schema, _frame(columns, rows))
    if failures:
        raise RequestValidationError([_violation(frame, failure) for failure in failures])
    return frame


def schema_failures(
    frame: pd.DataFrame, spec: SchemaSpec, *, compiled: bool = True
) -> list[Failure]:
    """Every failed check of the request schema on `frame`: the compiled checks' verdict
    when `spec` has them (and `compiled`), else Pandera's."""
    checks = request_checks(spec)
    if compiled and checks.compiled is not None:
        return checks.compiled.failures(frame)
    return _pandera_checked(checks.schema, frame)[1]


def _pandera_checked(schema: Any, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[Failure]]:
    import pandera.errors

    from reprokit.schemas import summarize_failures

    try:
        validated: pd.DataFrame = schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        # No failure case at all (then the frame passes, as built): only nulls repeated in
        # a unique column, which Pandera counts as failing but reports nothing for.
        # Training data passes the same schema there (reprokit.schemas.SchemaValidator goes
        # by the failure cases), so does a request.
        return frame, _grouped_failures(errors.failure_cases)
    except pandera.errors.SchemaError as error:  # a non-lazy failure (e.g. a coercion)
        lines = summarize_failures(error.failure_cases) if error.failure_cases is not None else []
        raise RequestValidationError(
            [Violation(None, "schema", "; ".join(lines) or str(error))]
        ) from None
    return validated, []


def _grouped_failures(cases: pd.DataFrame) -> list[Failure]:
    failures: list[Failure] = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=True):
        rows = sorted({int(index) for index in group["index"].dropna()})
        examples = tuple(group["failure_case"].drop_duplicates().head(5).tolist())
        failures.append(Failure(_column_name(column), str(check), rows, examples))
    return failures


def _violation(frame: pd.DataFrame, failure: Failure) -> Violation:
    """A failed check as a 422 entry. Its examples are the first distinct failing values
    in row order, read from the frame: the compiled checks and Pandera then quote the same
    values (Pandera's own failure cases come in an unstable sort's order, and their types
    depend on the other failures: an int64 id turns 1.0 beside a failing float)."""
    examples: Sequence[Any] = failure.examples
    if failure.rows and failure.column in frame.columns:
        failing = frame[failure.column].take(failure.rows)
        examples = failing.drop_duplicates().head(5).tolist()
    return Violation(
        failure.column,
        _rule_name(failure.check),
        f"values failing {failure.check}; examples: {[_jsonable(v) for v in examples]}",
        failure.rows,
    )


def _column_name(column: Any) -> str | None:
    """Pandera leaves the column empty (None or NaN) for frame-wide checks."""
    if column is None or (isinstance(column, float) and math.isnan(column)):
        return None
    return str(column)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return clip(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return clip(str(value))
