"""MLflow internals that cost a registration seconds without changing what it records.

`mlflow.<flavour>.log_model` spends most of its time on two environment probes (mlflow
3.17, the demo model, in a process that logs one model as the `track` stage does: 0.84
CPU-seconds with them, 0.22 without):

- The requirement check behind `warn_dependency_requirement_mismatches` (called when the
  model's requirements are written and again when MLflow loads the model to validate its
  input example): to warn when the environment does not satisfy a requirement, it first
  maps every file of every installed distribution to its package. reprokit's requirements
  name distributions (`lightgbm==4.7.0`, and MLflow's own pin), so the same verdict comes
  from asking each distribution's installed version directly.
- `is_running_in_ipython_environment` and `_get_dbutils`: to tag a model logged from a
  Jupyter or Databricks notebook, MLflow imports IPython (0.3-1 s) and asks for the
  running shell. A shell exists only once IPython is imported, so a process without it in
  `sys.modules` is in no notebook: the same answers, without the import.

They are replaced for the duration of `quick_log_model()` (the notebook probes alone:
`no_notebook_probes()`) only (process-wide: reprokit logs one model at a time per process),
then restored; tests/compat/test_mlflow.py pins the
names MLflow calls them by and that the requirement verdicts are MLflow's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# (module, attribute) MLflow calls each probe through (looked up as module globals).
REQUIREMENT_CHECK = ("mlflow.utils.requirements_utils", "_check_requirement_satisfied")
DATABRICKS_UTILS = "mlflow.utils.databricks_utils"
IPYTHON_PROBES = (
    ("mlflow.tracking.context.jupyter_notebook_context", "is_running_in_ipython_environment"),
    (DATABRICKS_UTILS, "is_running_in_ipython_environment"),
)
DBUTILS_PROBE = (DATABRICKS_UTILS, "_get_dbutils")


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


def _dbutils_probe(original: Callable[[], Any], databricks: Any) -> Callable[[], Any]:
    def probe() -> Any:
        if "IPython" not in sys.modules:
            raise databricks._NoDbutilsError  # what MLflow raises outside a notebook
        return original()

    return probe


@contextmanager
def _replaced(replacements: list[tuple[Any, str, Callable[[Any], Any]]]) -> Iterator[None]:
    """Each (module, name) global replaced by `make(original)` inside the block."""
    originals = [(module, name, getattr(module, name)) for module, name, _ in replacements]
    for (module, name, make), (_, _, original) in zip(replacements, originals, strict=True):
        setattr(module, name, make(original))
    try:
        yield
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


def _notebook_replacements() -> list[tuple[Any, str, Callable[[Any], Any]]]:
    import importlib

    databricks = importlib.import_module(DATABRICKS_UTILS)
    return [
        (databricks, DBUTILS_PROBE[1], lambda original: _dbutils_probe(original, databricks)),
        *(
            (importlib.import_module(module), name, _ipython_probe)
            for module, name in IPYTHON_PROBES
        ),
    ]


@contextmanager
def no_notebook_probes() -> Iterator[None]:
    """MLflow calls inside the block answer "no notebook" without importing IPython when
    it is not imported (the same answers: the module docstring).

    Also what keeps a background thread from importing IPython: every request to a
    tracking server asks Databricks' header provider, which imports IPython, and while that
    import is under way another thread creating a matplotlib canvas reads the half-made
    module from `sys.modules` (`FigureCanvasBase._fix_ipython_backend2gui` reads
    `IPython.version_info`) and fails: seen in `reprokit run` against an `mlflow server`.
    """
    with _replaced(_notebook_replacements()):
        yield


@contextmanager
def quick_log_model() -> Iterator[None]:
    """`log_model` inside the block answers the two probes cheaply (the module docstring)."""
    import importlib

    requirements = importlib.import_module(REQUIREMENT_CHECK[0])
    with _replaced(
        [
            (requirements, REQUIREMENT_CHECK[1], lambda _: _requirement_check(requirements)),
            *_notebook_replacements(),
        ]
    ):
        yield
