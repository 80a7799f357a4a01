"""The process environment reprokit's commands and workers run in.

Here, not in the CLI, so that a sweep's worker process (reprokit.sweeps.jobs) sets the same
environment without importing the CLI (which imports the sweeps: an import cycle).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Telemetry of every tool in the stack is off unless the user explicitly turns it on.
TELEMETRY_OFF = {
    "KEDRO_DISABLE_TELEMETRY": "true",
    # Also Evidently's switch: its client (iterative-telemetry, evidently.telemetry) sends
    # nothing while DO_NOT_TRACK is set to any value.
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    # Feast 0.67 has no usage telemetry (its FEAST_USAGE switch is gone with the module);
    # what it still sends is OpenLineage events on apply and materialize, on by default.
    "FEAST_OPENLINEAGE_ENABLED": "false",
}
# Progress bars that a non-interactive command prints anyway (MLflow drew its artifact
# download bar 3 times in one `reprokit monitor`).
QUIET_LIBRARIES = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
KEDRO_LOGGING_CONFIG = Path(__file__).resolve().parents[1] / "kedro_logging.yml"


def disable_telemetry() -> None:
    """Telemetry off, OpenMP waiting passively, Kedro logging through ours (setdefault:
    a value the user set explicitly wins)."""
    for name, value in {**TELEMETRY_OFF, **QUIET_LIBRARIES}.items():
        os.environ.setdefault(name, value)
    # OpenMP threads (LightGBM) otherwise spin while waiting and fight every other process
    # for the cores: measured 2.2-6x slower training on a loaded 2-core machine. Results do
    # not change (training is deterministic across thread counts).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # Without this, importing Kedro installs its rich console logging before ours.
    os.environ.setdefault("KEDRO_LOGGING_CONFIG", str(KEDRO_LOGGING_CONFIG))


def dvc_command(*args: str) -> list[str]:
    """`dvc ARGS` as this environment's DVC (a dependency of reprokit, pinned in uv.lock),
    whether or not a `dvc` is on PATH, and whichever one is."""
    return [sys.executable, "-m", "dvc", *args]
