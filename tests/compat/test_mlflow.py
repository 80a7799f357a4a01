"""Pins what reprokit._compat.mlflow relies on in MLflow."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest
from mlflow.tracking.context import jupyter_notebook_context
from mlflow.utils import databricks_utils, requirements_utils

from reprokit._compat.mlflow import (
    DBUTILS_PROBE,
    REQUIREMENT_CHECK,
    installed_version,
    quick_log_model,
    requirement_mismatch,
)

IPYTHON = "is_running_in_ipython_environment"


def test_mlflow_calls_both_probes_through_the_replaced_module_globals() -> None:
    # Looked up by name at call time (LOAD_GLOBAL), so replacing the attribute reaches every
    # caller: writing a model's requirements and loading it to check its input example.
    checks = requirements_utils.warn_dependency_requirement_mismatches.__code__.co_names
    assert REQUIREMENT_CHECK[1] in checks
    notebook = jupyter_notebook_context._is_in_jupyter_notebook.__code__.co_names
    assert IPYTHON in notebook
    assert DBUTILS_PROBE[1] in databricks_utils._get_java_dbutils.__code__.co_names
    fields = requirements_utils._MismatchedPackageInfo._fields  # built by keyword
    assert fields == ("package_name", "installed_version", "requirement")


@pytest.mark.parametrize(
    "requirement",
    [
        f"lightgbm=={metadata.version('lightgbm')}",
        f"mlflow=={metadata.version('mlflow')}",
        "lightgbm==0.0.1",
        "lightgbm>=1,<999",
        "no-such-distribution-reprokit==1.0",
        "./local/path",
    ],
)
def test_the_quick_check_gives_mlflows_verdict(requirement: str) -> None:
    expected = requirements_utils._check_requirement_satisfied(requirement)
    mismatch = requirement_mismatch(requirement, installed_version)
    if expected is None:
        assert mismatch is None
    else:
        assert mismatch == (expected.package_name, expected.installed_version)


def test_the_probes_are_replaced_inside_the_block_only() -> None:
    check_before = getattr(requirements_utils, REQUIREMENT_CHECK[1])
    probe_before = getattr(jupyter_notebook_context, IPYTHON)
    with quick_log_model():
        assert getattr(requirements_utils, REQUIREMENT_CHECK[1]) is not check_before
        if "IPython" not in sys.modules:
            assert jupyter_notebook_context._is_in_jupyter_notebook() is False
            assert databricks_utils.is_in_databricks_notebook() is False
            assert "IPython" not in sys.modules
        mismatch = getattr(requirements_utils, REQUIREMENT_CHECK[1])("lightgbm==0.0.1")
        assert str(mismatch).startswith("lightgbm (current: ")
    assert getattr(requirements_utils, REQUIREMENT_CHECK[1]) is check_before
    assert getattr(jupyter_notebook_context, IPYTHON) is probe_before


# What a request to a tracking server asks before it is sent (the request headers), and
# whether that imported IPython: printed by a fresh interpreter, where nothing imported it.
_HEADERS_SCRIPT = """
import subprocess
import sys
from mlflow.tracking.request_header.registry import resolve_request_headers
from reprokit._compat.mlflow import no_notebook_probes
with no_notebook_probes():
    resolve_request_headers()
print("inside", "IPython" in sys.modules)
resolve_request_headers()
print("outside", "IPython" in sys.modules)
"""


def test_a_tracking_servers_request_headers_import_no_ipython_inside_the_block() -> None:
    # The background thread that opens a run must not import IPython while the pipeline
    # creates matplotlib canvases (a half-imported IPython fails them). Outside the block,
    # MLflow's own probe imports it: the check can see the import it prevents.
    result = subprocess.run(
        [sys.executable, "-c", _HEADERS_SCRIPT], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["inside", "False", "outside", "True"], result.stderr
