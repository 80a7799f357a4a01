"""Shared fixtures: the project root and throwaway copies of the project."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from tests.support import PROJECT_ROOT, copy_project, migrated_mlflow_db
from tests.support.templates import build_reproduced, build_trained, template

for variable in (
    "KEDRO_DISABLE_TELEMETRY",
    "DO_NOT_TRACK",
    "DVC_NO_ANALYTICS",
    "BENTOML_DO_NOT_TRACK",
    "MLFLOW_DISABLE_TELEMETRY",
):
    os.environ.setdefault(variable, "true")


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def mlflow_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once per test process; tests copy it instead of migrating a fresh store."""
    return migrated_mlflow_db(tmp_path_factory.mktemp("mlflow") / "template.db")


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Path:
    """The default project after one `reprokit run`, trained once per session (for all
    workers). Never use it in place: take a copy with `tests.support.templates.relocated_copy`
    (its store's paths moved to the copy)."""
    build = partial(build_trained, mlflow_db=mlflow_db_template)
    return template(tmp_path_factory, "trained", build) / "project"


@pytest.fixture(scope="session")
def reproduced_template(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Path:
    """The default project as a git repository after one full `dvc repro`, once per session
    (`build_reproduced`); copy it with `relocated_copy`, as `trained_template`."""
    build = partial(build_reproduced, mlflow_db=mlflow_db_template)
    return template(tmp_path_factory, "reproduced", build) / "project"


@pytest.fixture(autouse=True)
def no_leaked_tracking_uri() -> Iterator[None]:
    """Each test starts and ends with the tracking URI it inherited: MLflow's
    `set_tracking_uri` exports MLFLOW_TRACKING_URI to the whole worker process, and a test
    that leaked one sent every later in-process test to its store."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if os.environ.get("MLFLOW_TRACKING_URI") == before:
        return
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(None)  # unsets MLflow's global too
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    if before is not None:
        os.environ["MLFLOW_TRACKING_URI"] = before
    pytest.fail("the test left MLFLOW_TRACKING_URI changed (scope it: fluent_tracking_uri)")


@pytest.fixture
def project_copy(tmp_path: Path, mlflow_db_template: Path) -> Path:
    return copy_project(tmp_path / "project", mlflow_db_template)


# The two longest files, one per worker at the start: the container test (235 s on a fresh
# clone with podman) and the canary (137 s). The canary builds the retraining tests' shared
# template (`first_repro_template`): started first, it is built before the retrain file
# starts, where in collection order the files came one after the other and the second
# would wait on the template's lock while the first built it.
LONGEST_FIRST = ("tests/e2e/test_container.py", "tests/retrain/test_canary_e2e.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """LONGEST_FIRST, then the other files with slow end-to-end tests, each in collected
    order (a stable sort).

    `make test` hands whole files to two workers (`--dist loadfile`) in collection order
    (`--no-loadscope-reorder`; xdist's default reorder puts files with the most tests first,
    i.e. the parametrised unit files, and left minute-long e2e files for the end, where one
    worker ran them while the other idled). Longest first keeps both busy to the end.
    """
    first = {config.rootpath / path: rank for rank, path in enumerate(LONGEST_FIRST)}
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (first.get(item.path, len(first)), item.path not in slow_files))
