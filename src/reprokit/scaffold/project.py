"""`reprokit new NAME --from FILE --target COL`: write conf/data/NAME.yaml and
conf/experiment/NAME.yaml for a user's file, put the file under data/01_raw/ and track it.

Everything is checked before anything is written: the file is read with the one reader
(reprokit.io.read_table) and the detected options, the written data config validates as
`data` and its schema accepts the file. The two config files are written atomically.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import annotated_types
import pandas as pd
import yaml

from reprokit.config.models import TAG_SAFE_NAME, DataConfig
from reprokit.config.read import ReadOptions
from reprokit.core.fs import atomic_path
from reprokit.io import read_table
from reprokit.scaffold.detect import (
    date_formats,
    detect_decimal,
    detect_delimiter,
    detect_encoding,
)
from reprokit.scaffold.infer import (
    RANGE_MARGIN,
    Roles,
    ScaffoldError,
    Task,
    check_target,
    infer_task,
    propose_roles,
    schema_columns,
    with_target_classes,
)
from reprokit.schemas import SchemaValidator

RAW_DIR = Path("data/01_raw")
SAMPLE_BYTES = 64 * 1024
CHUNK_BYTES = 1 << 20
# data.name's length limit, as DataConfig declares it.
MAX_NAME: int = next(
    rule.max_length
    for rule in DataConfig.model_fields["name"].metadata
    if isinstance(rule, annotated_types.MaxLen)
)


@dataclass(frozen=True)
class Plan:
    """What `reprokit new` writes: config files (path -> text) and the raw data file."""

    name: str
    source: Path
    raw_path: Path
    files: dict[Path, str] = field(default_factory=dict)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def detect_read_options(path: Path) -> ReadOptions:
    """The CSV's encoding, delimiter and decimal mark (Parquet: the defaults)."""
    if path.suffix != ".csv":
        return ReadOptions()
    encoding = detect_encoding(_chunks(path))
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES).decode(encoding, errors="replace")
    # A sample cut mid-line would give the sniffer a short last row.
    sample = sample.rsplit("\n", 1)[0] if "\n" in sample else sample
    delimiter = detect_delimiter(sample)
    return ReadOptions(
        encoding=encoding, delimiter=delimiter, decimal=detect_decimal(sample, delimiter)
    )


def read_with_dates(path: Path, read: ReadOptions) -> tuple[pd.DataFrame, ReadOptions]:
    """The table and its read options, with the text columns that are all dates (of the
    first such column's format: `data.read` has one) declared as `date_columns`."""
    frame = read_table(path, read)
    formats = date_formats(frame) if path.suffix == ".csv" else {}
    if not formats:
        return frame, read
    first = next(iter(formats.values()))
    columns = [name for name, found in formats.items() if found == first]
    dated = read.model_copy(update={"date_columns": columns, "date_format": first})
    return read_table(path, dated), dated


def _flow(value: Any) -> str:
    """`value` as one line of YAML (a scalar, `{...}` or `[...]`), quoted where needed."""
    text = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10**6
    )
    # A bare scalar is dumped as a document: `null\n...\n`.
    return str(text).removesuffix("\n...\n").strip()


def _option(value: Any) -> str:
    """A read option's value; strings double-quoted (JSON is YAML), so `";"`, `"\\t"` and
    `"%d.%m.%Y"` read plainly."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else _flow(value)


def _read_block(read: ReadOptions, parquet: bool) -> list[str]:
    if parquet:
        return ["# Parquet carries its own types: no read options needed."]
    detected = read.model_dump(include={"encoding", "delimiter", "decimal"})
    if read.date_columns:
        detected |= {"date_columns": read.date_columns, "date_format": read.date_format}
    lines = ["# How the file is read (detected by `reprokit new`; see README, Read options)."]
    lines.append("read:")
    lines += [f"  {key}: {_option(value)}" for key, value in detected.items()]
    return lines


ID_WHY = "unique text or increasing integers"
TIMESTAMP_WHY = "a column of dates"


def _role_why(column: str | None, rule: str) -> str:
    """The comment on a role: why the column was proposed, or what was looked for."""
    if column is None:
        return f"none proposed (looked for {rule})"
    return f"proposed: {rule}; never a feature"


def render_data_config(
    name: str,
    *,
    source: Path,
    raw_path: Path,
    read: ReadOptions,
    task: Task,
    task_why: str,
    target: str,
    roles: Roles,
    columns: dict[str, Any],
    rows: int,
) -> str:
    """conf/data/NAME.yaml: readable, one line per column, comments saying what was inferred."""
    lines = [
        f"# {source.name} ({rows} rows), written by `reprokit new {name}`: edit freely.",
        "# The schema was inferred from the file (pandera.infer_schema): ranges are the observed",
        f"# ones widened by {RANGE_MARGIN:.0%}, text columns with few values list them (isin).",
        f"name: {name}",
        f"task: {task}  # {task_why}",
        f"target: {_flow(target)}",
        f"id_column: {_flow(roles.id_column)}  # {_role_why(roles.id_column, ID_WHY)}",
        f"timestamp_column: {_flow(roles.timestamp_column)}  "
        f"# {_role_why(roles.timestamp_column, TIMESTAMP_WHY)}",
        "group_column: null  # a column whose groups must not straddle the splits, if any",
        f"path: {raw_path.as_posix()}",
        "source:",
        "  kind: file  # your file, tracked with `dvc add`",
        *_read_block(read, raw_path.suffix == ".parquet"),
        "schema:",
        '  # strict: a column not listed here is an error; "filter" would drop it instead.',
        "  strict: true",
        "  columns:",
        *(f"    {_flow(column)}: {_flow(spec)}" for column, spec in columns.items()),
    ]
    return "\n".join(lines) + "\n"


def render_experiment(name: str) -> str:
    """conf/experiment/NAME.yaml: the pipeline on this dataset, features chosen by dtype."""
    return (
        "# @package _global_\n"
        f"# The pipeline on conf/data/{name}.yaml (written by `reprokit new`): every schema\n"
        "# column is a feature by its dtype; no evaluation config (the gate follows data.task).\n"
        "defaults:\n"
        f"  - override /data: {name}\n"
        "  - override /features: auto\n"
    )


def _task_and_why(frame: pd.DataFrame, target: str, task: Task | None) -> tuple[Task, str]:
    if task is not None:
        return task, "given with --task"
    inferred = infer_task(frame[target])
    count = frame[target].nunique()
    return inferred, f"inferred: the target has {count} distinct {frame[target].dtype} values"


def plan_new(name: str, source: Path, target: str, task: Task | None = None) -> Plan:
    """Read `source`, infer its config and return what to write (nothing written yet).

    Raises:
        ScaffoldError: The file is missing, or the target is not one of its columns.
        TableReadError: The file cannot be read (reprokit.io.read_table).
    """
    if not re.fullmatch(TAG_SAFE_NAME, name) or len(name) > MAX_NAME:
        raise ScaffoldError(
            f"NAME {name!r} cannot name a dataset: use at most {MAX_NAME} lowercase letters, "
            "digits and -_. inside (it names the model in BentoML and MLflow)"
        )
    if not source.is_file():
        raise ScaffoldError(f"--from {source}: no such file")
    read = detect_read_options(source)
    frame, read = read_with_dates(source, read)
    check_target(target, [str(column) for column in frame.columns], str(source))
    chosen, why = _task_and_why(frame, target, task)
    roles = propose_roles(frame, target)
    columns = schema_columns(frame, target, roles.id_column)
    if chosen != "regression":
        with_target_classes(columns, target, frame)
    raw_path = RAW_DIR / f"{name}{source.suffix}"
    text = render_data_config(
        name,
        source=source,
        raw_path=raw_path,
        read=read,
        task=chosen,
        task_why=why,
        target=target,
        roles=roles,
        columns=columns,
        rows=len(frame),
    )
    _check_config(text, frame, Path("conf/data") / f"{name}.yaml")
    files = {
        Path("conf/data") / f"{name}.yaml": text,
        Path("conf/experiment") / f"{name}.yaml": render_experiment(name),
    }
    return Plan(name=name, source=source, raw_path=raw_path, files=files)


def _check_config(text: str, frame: pd.DataFrame, where: Path) -> None:
    """The written config is a valid `data` config whose schema accepts the file, so what
    `reprokit new` writes runs with no edit (a failure here names the file and column)."""
    from pydantic import ValidationError

    try:
        data = DataConfig.model_validate(yaml.safe_load(text))
    except ValidationError as error:
        raise ScaffoldError(f"the inferred {where} is not a valid data config: {error}") from None
    validator = SchemaValidator(str(where), data.schema_.model_dump(), data.target, data.task)
    validator.validate(frame)


def refuse_overwrite(root: Path, plan: Plan, force: bool) -> None:
    """Existing config files and another raw file of that name are kept unless --force,
    naming each."""
    raw = root / plan.raw_path
    replaced_raw = [plan.raw_path] if raw.exists() and not _same_file(plan.source, raw) else []
    existing = [path for path in plan.files if (root / path).exists()] + replaced_raw
    if existing and not force:
        names = ", ".join(str(path) for path in existing)
        raise ScaffoldError(f"{names} already exist(s): pass --force to overwrite")


def _same_file(source: Path, target: Path) -> bool:
    return source.resolve() == target.resolve()


def copy_raw_file(root: Path, plan: Plan) -> str | None:
    """Copy the file to data/01_raw/NAME.<ext> unless it is that file; what was done."""
    target = root / plan.raw_path
    if _same_file(plan.source, target):
        return None
    with atomic_path(target) as tmp:
        shutil.copyfile(plan.source, tmp)
    return f"copied {plan.source} to {plan.raw_path}"


def is_dvc_repo(root: Path) -> bool:
    return (root / ".dvc").is_dir()


def dvc_add(root: Path, plan: Plan) -> str:
    """Track the raw file with `dvc add` in a DVC repo; what was done, for the user.

    Run without the project lock held: DVC takes its own lock on the project."""
    if not is_dvc_repo(root):
        return f"not a DVC repo: {plan.raw_path} is not tracked (`dvc init`, then `dvc add`)"
    # DVC of this environment (a dependency of reprokit), whether or not it is on PATH.
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "add", plan.raw_path.as_posix()],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ScaffoldError(
            f"`dvc add {plan.raw_path}` failed: {result.stderr.strip() or result.stdout}"
        )
    return (
        f"tracked {plan.raw_path} with `dvc add` (commit {plan.raw_path}.dvc and "
        f"{plan.raw_path.parent}/.gitignore)"
    )


def write_configs(root: Path, plan: Plan) -> None:
    """Both config files, each written to a temp file and renamed into place."""
    for path, text in plan.files.items():
        with atomic_path(root / path) as tmp:
            tmp.write_text(text, encoding="utf-8")
