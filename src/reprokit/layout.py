"""The project layout: where reprokit keeps its local state and records, which catalog files
are an execution's input data and which source files its code. One home for each path that
several modules read or write (tracking writes them; dvcgen, packaging, monitoring and
serving read them)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reprokit.config.models import ReprokitConfig
from reprokit.core.content.code import code_files
from reprokit.datasets import atomic_path

# Stage records of one `dvc repro` execution, read by its `track` stage.
RECORDS_DIR = ".reprokit/records"
# The `track` stage's output: the fingerprint of the execution it recorded.
FINGERPRINT_FILE = "data/08_reporting/fingerprint.json"
# The last recorded run of this workspace (run id, fingerprint, version, model sha256).
LAST_RUN_FILE = ".reprokit/last_run.json"


class LastRun(BaseModel):
    """What LAST_RUN_FILE holds: the last run this workspace recorded. Packaging prefers its
    run, monitoring names it, `reprokit run` summarises it. Keys added later are optional, so
    a file written by an older reprokit still reads."""

    # Unknown keys are kept out, not refused: a newer reprokit may have written the file.
    model_config = ConfigDict(extra="ignore", frozen=True)

    run_id: str
    tracking_uri: str
    fingerprint: str
    experiment_id: str | None = None
    model_version: str | None = None
    # Lets packaging tell whether the model on disk is the one this run trained.
    model_sha256: str | None = None
    registered_model: str | None = None
    model_aliases: list[str] = Field(default_factory=list)
    entry_point: str | None = None
    gate: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)


def write_last_run(root: Path, last: LastRun) -> None:
    with atomic_path(root / LAST_RUN_FILE) as tmp:
        text = json.dumps(last.model_dump(), indent=2, sort_keys=True) + "\n"
        tmp.write_text(text, encoding="utf-8")


def read_last_run(root: Path) -> LastRun | None:
    """The last recorded run, or None when there is none or the file is unreadable: it is a
    local hint (every reader can do without it), never the record itself (MLflow is)."""
    try:
        return LastRun.model_validate_json((root / LAST_RUN_FILE).read_bytes())
    except (OSError, ValidationError):
        return None


def free_input_files(config: ReprokitConfig, root: Path) -> dict[str, Path]:
    """Catalog files the pipelines read but no node writes: the execution's input data."""
    written = {out for spec in config.pipeline.nodes.values() for out in spec.output_names}
    read = {ds for spec in config.pipeline.nodes.values() for ds in spec.inputs.values()}
    files: dict[str, Path] = {}
    for dataset in sorted(read - written):
        filepath = config.catalog.get(dataset, {}).get("filepath")
        if filepath:
            path = Path(filepath)
            files[dataset] = path if path.is_absolute() else root / path
    return files


def pipeline_code_files(config: ReprokitConfig, root: Path) -> list[str]:
    """Every project source file that computes a result: the pipeline stages' code deps
    together. The fingerprint's code hash covers exactly these (a CLI change is not a new
    result)."""
    nodes = [
        config.pipeline.nodes[n] for names in config.pipeline.pipelines.values() for n in names
    ]
    return code_files(nodes, config.catalog, root)
