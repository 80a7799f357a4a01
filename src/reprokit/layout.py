"""The project layout: where reprokit keeps its local state and records, which catalog files
are an execution's input data and which source files its code. One home for each path that
several modules read or write (tracking writes them; dvcgen, packaging, monitoring and
serving read them)."""

from __future__ import annotations

from pathlib import Path

from reprokit.config.models import ReprokitConfig
from reprokit.core.content.code import code_files

# Stage records of one `dvc repro` execution, read by its `track` stage.
RECORDS_DIR = ".reprokit/records"
# The `track` stage's output: the fingerprint of the execution it recorded.
FINGERPRINT_FILE = "data/08_reporting/fingerprint.json"
# The last recorded run of this workspace (run id, fingerprint, version, model sha256).
LAST_RUN_FILE = ".reprokit/last_run.json"


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
