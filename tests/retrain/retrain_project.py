"""A project copy whose raw data the user provides (`data.source.kind: file`, tracked with
`dvc add`), as the retraining loop needs, and demo batches to feed it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tests.support import commit_all, git_init, run

RAW = "data/01_raw/credit.parquet"
# Batches get ids past the training data's, so appending keeps `customer_id` unique.
BATCH_ID_OFFSET = 1_000_000


def use_file_source(project: Path, *, stages: bool = True) -> None:
    """conf/data/credit.yaml with `source: {kind: file}`, params.yaml and (with `stages`)
    dvc.yaml from it (the generators, as a user would run them: `make generate`)."""
    conf = project / "conf/data/credit.yaml"
    text = conf.read_text(encoding="utf-8")
    start, end = text.index("source:\n"), text.index("schema:\n")
    conf.write_text(text[:start] + "source: {kind: file}\n" + text[end:], encoding="utf-8")
    run(["reprokit", "config", "compose"], project)
    if stages:
        run(["reprokit", "dvc", "generate"], project)


def file_sourced(project: Path, rows: int) -> Path:
    """`project` as a git + DVC repo with `rows` rows of demo data added with `dvc add`."""
    use_file_source(project)
    git_init(project)
    run(
        ["reprokit", "data", "generate", "--rows", str(rows), "--seed", "7", "--output", RAW],
        project,
    )
    run(["dvc", "add", RAW], project)
    commit_all(project, "raw data")
    return project


def batch(path: Path, rows: int, seed: int, *, drift: bool) -> Path:
    """A demo batch at `path` with ids past the training data's: what `reprokit data generate
    --rows ROWS --seed SEED [--drift]` writes, written in process (a tool start-up less per
    batch; the command itself runs in `file_sourced` and tests/monitoring)."""
    from reprokit.datagen.credit import drift_credit, iter_credit_blocks
    from reprokit.datagen.writer import write_table

    blocks = iter_credit_blocks(0, rows, seed)
    write_table(path, (drift_credit(block, seed) for block in blocks) if drift else blocks)
    frame = pd.read_parquet(path)
    frame["customer_id"] += BATCH_ID_OFFSET
    frame.to_parquet(path, index=False)
    return path
