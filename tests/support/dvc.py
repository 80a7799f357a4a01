"""What `dvc repro` ran: the default project's stages, read from DVC's own output."""

from __future__ import annotations

# The default project's stages in dvc.yaml, in pipeline order.
STAGES = ("data", "prepare", "features", "train", "evaluate", "track", "package", "materialize")


def ran_stages(output: str) -> set[str]:
    """The stages of STAGES a `dvc repro` / `dvc exp run` output says it ran."""
    return {stage for stage in STAGES if f"Running stage '{stage}'" in output}
