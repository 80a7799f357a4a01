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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import annotated_types
import pandas as pd
import yaml

from reprokit.config.models import TAG_SAFE_NAME, DataConfig
from reprokit.config.read import ReadOptions
from reprokit.core.env import dvc_command
from reprokit.core.fs import atomic_path
from reprokit.io import read_table
from reprokit.scaffold.detect import (
    boolean_spellings,
    date_formats,
    detect_delimiter,
    detect_encoding,
    detect_number_marks,
    padded_header,
    padded_values,
)
from reprokit.scaffold.infer import (
    MIN_GROUPS,
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
    """The CSV's encoding, delimiter, decimal mark and thousands separator (Parquet: the
    defaults)."""
    if path.suffix != ".csv":
        return ReadOptions()
    encoding = detect_encoding(_chunks(path))
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES).decode(encoding, errors="replace")
    # A sample cut mid-line would give the sniffer a short last row.
    sample = sample.rsplit("\n", 1)[0] if "\n" in sample else sample
    delimiter = detect_delimiter(sample)
    decimal, thousands = detect_number_marks(sample, delimiter)
    return ReadOptions(encoding=encoding, delimiter=delimiter, decimal=decimal, thousands=thousands)


@dataclass(frozen=True)
class Detected:
    """The table as read with the detected options, and why each option was set (the
    comments of the written `data.read` and schema)."""

    frame: pd.DataFrame
    read: ReadOptions
    notes: dict[str, str] = field(default_factory=dict)
    column_notes: dict[str, str] = field(default_factory=dict)


def _dates_update(formats: dict[str, str]) -> dict[str, Any]:
    """`date_columns` and `date_format`: one format for all, else a mapping per column."""
    if not formats:
        return {}
    shared = set(formats.values())
    chosen: str | dict[str, str] = shared.pop() if len(shared) == 1 else dict(formats)
    return {"date_columns": list(formats), "date_format": chosen}


def _booleans_update(spellings: dict[str, tuple[list[str], list[str]]]) -> dict[str, Any]:
    if not spellings:
        return {}
    trues = sorted({word for found, _ in spellings.values() for word in found})
    falses = sorted({word for _, found in spellings.values() for word in found})
    return {"true_values": trues, "false_values": falses}


def detect_table(path: Path, read: ReadOptions) -> Detected:
    """Read the file with the detected dialect and find what else it needs: whitespace
    to strip (header, values), date columns and formats, boolean spellings.

    The probe reads without the thousands separator: with `thousands: "."` pandas would
    read `15.10.2023` as the number 15102023 before its date could be seen."""
    probe = read_table(path, read.model_copy(update={"thousands": None}))
    if path.suffix != ".csv":
        return Detected(frame=probe, read=read)
    header, values = padded_header(probe.columns), padded_values(probe)
    strips = {"strip_header": bool(header), "strip_values": bool(values)}
    cleaned = read_table(path, read.model_copy(update={"thousands": None, **strips}))
    formats, spellings = date_formats(cleaned), boolean_spellings(cleaned)
    update = {**strips, **_dates_update(formats), **_booleans_update(spellings)}
    final = read.model_copy(update=update)
    # model_copy does not validate: the options as a user would write them must.
    final = ReadOptions.model_validate(final.model_dump())
    notes = _read_notes(final, header, values, formats, spellings)
    column_notes = {
        name: f"{'/'.join(trues)} / {'/'.join(falses)} in the file: read as booleans"
        for name, (trues, falses) in spellings.items()
    }
    return Detected(
        frame=read_table(path, final), read=final, notes=notes, column_notes=column_notes
    )


def _read_notes(
    read: ReadOptions,
    header: list[str],
    values: dict[str, str],
    formats: dict[str, str],
    spellings: dict[str, tuple[list[str], list[str]]],
) -> dict[str, str]:
    """The comment on each detected `data.read` option that is not a plain dialect one."""
    notes: dict[str, str] = {}
    if read.thousands:
        grouped = f"1{read.thousands}234{read.decimal}5"
        notes["thousands"] = f"numbers grouped in thousands, like {grouped}"
    if header:
        notes["strip_header"] = f"column names with spaces around them: {header[:3]}"
    if values:
        examples = [f"{name}: {value!r}" for name, value in list(values.items())[:3]]
        notes["strip_values"] = f"values with spaces around them ({', '.join(examples)})"
    if isinstance(read.date_format, dict):
        notes["date_format"] = "the date columns are written in different formats"
    if spellings:
        notes["true_values"] = f"booleans spelled out in {sorted(spellings)}"
    return notes


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


# Written even at their defaults: the dialect is what a reader of the config checks first.
ALWAYS_WRITTEN = ("encoding", "delimiter", "decimal")


def _read_block(read: ReadOptions, parquet: bool, notes: dict[str, str]) -> list[str]:
    if parquet:
        return ["# Parquet carries its own types: no read options needed."]
    chosen = read.model_dump(exclude_defaults=True) | read.model_dump(include=set(ALWAYS_WRITTEN))
    ordered = [key for key in ReadOptions.model_fields if key in chosen]
    lines = ["# How the file is read (detected by `reprokit new`; see README, Read options)."]
    lines.append("read:")
    for key in ordered:
        comment = f"  # {notes[key]}" if key in notes else ""
        lines.append(f"  {key}: {_option(chosen[key])}{comment}")
    return lines


ID_WHY = "unique text or increasing integers"
TIMESTAMP_WHY = "a column of dates"
GROUP_WHY = f"a repeated key named like one, with at least {MIN_GROUPS} values"


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
    detected: Detected,
    task: Task,
    task_why: str,
    target: str,
    roles: Roles,
    columns: dict[str, Any],
) -> str:
    """conf/data/NAME.yaml: readable, one line per column, comments saying what was inferred."""
    lines = [
        f"# {source.name} ({len(detected.frame)} rows), written by `reprokit new {name}`: "
        "edit freely.",
        "# The schema was inferred from the file (pandera.infer_schema): ranges are the observed",
        f"# ones widened by {RANGE_MARGIN:.0%}, text columns with few values list them (isin).",
        f"name: {name}",
        f"task: {task}  # {task_why}",
        f"target: {_flow(target)}",
        f"id_column: {_flow(roles.id_column)}  # {_role_why(roles.id_column, ID_WHY)}",
        f"timestamp_column: {_flow(roles.timestamp_column)}  "
        f"# {_role_why(roles.timestamp_column, TIMESTAMP_WHY)}",
        f"group_column: {_flow(roles.group_column)}  # {_role_why(roles.group_column, GROUP_WHY)}",
        f"path: {raw_path.as_posix()}",
        "source:",
        "  kind: file  # your file, tracked with `dvc add`",
        *_read_block(detected.read, raw_path.suffix == ".parquet", detected.notes),
        "schema:",
        '  # strict: a column not listed here is an error; "filter" would drop it instead.',
        "  strict: true",
        "  columns:",
        *(
            f"    {_flow(column)}: {_flow(spec)}{_comment(detected.column_notes.get(column))}"
            for column, spec in columns.items()
        ),
    ]
    return "\n".join(lines) + "\n"


def _comment(note: str | None) -> str:
    return f"  # {note}" if note else ""


def render_experiment(name: str, group_column: str | None, group_split: bool) -> str:
    """conf/experiment/NAME.yaml: the pipeline on this dataset, features chosen by dtype;
    split by the group column when there is one (commented out when the project has no
    `split: group` option)."""
    lines = [
        "# @package _global_",
        f"# The pipeline on conf/data/{name}.yaml (written by `reprokit new`): every schema",
        "# column is a feature by its dtype; no evaluation config (the gate follows data.task).",
        "defaults:",
        f"  - override /data: {name}",
        "  - override /features: auto",
    ]
    if group_column is not None:
        why = f"each {group_column} lands in one of train/valid/test (data.group_column)"
        if group_split:
            lines.append(f"  - override /split: group  # {why}")
        else:
            lines += [
                f"  # {why}: split by group (conf/split/ has no `group` option yet)",
                "  # - override /split: group",
            ]
    return "\n".join(lines) + "\n"


def _task_and_why(frame: pd.DataFrame, target: str, task: Task | None) -> tuple[Task, str]:
    if task is not None:
        return task, "given with --task"
    inferred = infer_task(frame[target])
    count = frame[target].nunique()
    return inferred, f"inferred: the target has {count} distinct {frame[target].dtype} values"


def plan_new(
    name: str, source: Path, target: str, task: Task | None = None, *, group_split: bool = True
) -> Plan:
    """Read `source`, infer its config and return what to write (nothing written yet).
    `group_split`: the project has conf/split/group.yaml (a proposed group column uses it).

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
    detected = detect_table(source, detect_read_options(source))
    frame = detected.frame
    check_target(target, [str(column) for column in frame.columns], str(source))
    chosen, why = _task_and_why(frame, target, task)
    roles = propose_roles(frame, target)
    keys = (roles.group_column,) if roles.group_column else ()
    columns = schema_columns(frame, target, roles.id_column, keys)
    if chosen != "regression":
        with_target_classes(columns, target, frame)
    raw_path = RAW_DIR / f"{name}{source.suffix}"
    text = render_data_config(
        name,
        source=source,
        raw_path=raw_path,
        detected=detected,
        task=chosen,
        task_why=why,
        target=target,
        roles=roles,
        columns=columns,
    )
    _check_config(text, frame, Path("conf/data") / f"{name}.yaml")
    files = {
        Path("conf/data") / f"{name}.yaml": text,
        Path("conf/experiment") / f"{name}.yaml": render_experiment(
            name, roles.group_column, group_split
        ),
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
    result = subprocess.run(
        dvc_command("add", plan.raw_path.as_posix()),
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
