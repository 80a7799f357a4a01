"""MLflow internals that cost a registration seconds without changing what it records.

`mlflow.<flavour>.log_model` spends most of its time on two environment probes (mlflow
3.17, the demo model: 1.3 of its 1.8 CPU-seconds when the run is logged in a process of
its own, as the `track` stage does):

- The requirement check behind `warn_dependency_requirement_mismatches` (called when the
  model's requirements are written and again when MLflow loads the model to validate its
  input example): to warn when the environment does not satisfy a requirement, it first
  maps every file of every installed distribution to its package. reprokit's requirements
  name distributions (`lightgbm==4.7.0`, and MLflow's own pin), so the same verdict comes
  from asking each distribution's installed version directly.
- `is_running_in_ipython_environment`: to tag a model logged from a notebook, MLflow
  imports IPython (0.3 s) and asks for the running shell. A shell exists only once IPython
  is imported, so a process without it in `sys.modules` is not in one: the same answer,
  without the import.

Both are replaced for the duration of `quick_log_model()` only, then restored;
tests/compat/test_mlflow.py pins the names MLflow calls them by.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# (module, attribute) MLflow calls each probe through (looked up as module globals).
REQUIREMENT_CHECK = ("mlflow.utils.requirements_utils", "_check_requirement_satisfied")
IPYTHON_PROBE = (
    "mlflow.tracking.context.jupyter_notebook_context",
    "is_running_in_ipython_environment",
)


def requirement_mismatch(
    requirement: str, installed: Callable[[str], str | None]
) -> tuple[str, str | None] | None:
    """(distribution, installed version or None) when `installed` (distribution name ->
    version, None: not installed) does not satisfy `requirement`; None when it does, or
    when the requirement is a path or URL (MLflow skips those too)."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        parsed = Requirement(requirement)
    except InvalidRequirement:
        return None
    if parsed.marker is not None and not parsed.marker.evaluate():
        return None
    version = installed(parsed.name)
    if version is None:
        return parsed.name, None
    if parsed.specifier and not parsed.specifier.contains(version, prereleases=True):
        return parsed.name, version
    return None


def installed_version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _requirement_check(module: Any) -> Callable[[str], Any]:
    def check(requirement: str) -> Any:
        mismatch = requirement_mismatch(requirement, installed_version)
        if mismatch is None:
            return None
        name, version = mismatch
        # MLflow's own record, so that its warning reads as it always does.
        return module._MismatchedPackageInfo(
            package_name=name, installed_version=version, requirement=requirement
        )

    return check


def _ipython_probe(original: Callable[[], bool]) -> Callable[[], bool]:
    def probe() -> bool:
        return "IPython" in sys.modules and original()

    return probe


@contextmanager
def quick_log_model() -> Iterator[None]:
    """`log_model` inside the block answers the two probes cheaply (the module docstring)."""
    import importlib

    requirements = importlib.import_module(REQUIREMENT_CHECK[0])
    notebook = importlib.import_module(IPYTHON_PROBE[0])
    originals = [
        (requirements, REQUIREMENT_CHECK[1], getattr(requirements, REQUIREMENT_CHECK[1])),
        (notebook, IPYTHON_PROBE[1], getattr(notebook, IPYTHON_PROBE[1])),
    ]
    setattr(requirements, REQUIREMENT_CHECK[1], _requirement_check(requirements))
    setattr(notebook, IPYTHON_PROBE[1], _ipython_probe(originals[1][2]))
    try:
        yield
    finally:
        for module, name, original in originals:
            setattr(module, name, original)
