"""What `dvc repro` ran: the default project's stages, read from DVC's own output."""

from __future__ import annotations

import re

# The default project's stages in dvc.yaml, in pipeline order.
STAGES = ("data", "prepare", "features", "train", "evaluate", "track", "package", "materialize")

# DVC prints this line once for every stage it runs. Parsing the name, rather than looking for each
# of STAGES, also reports a stage the test did not expect.
RUNNING_STAGE = re.compile(r"Running stage '([^']+)'")


def ran_stages(output: str) -> set[str]:
    """Every stage a `dvc repro` / `dvc exp run` output says it ran."""
    return set(RUNNING_STAGE.findall(output))
