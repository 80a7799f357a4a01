"""Content keys (reprokit.core.content): code deps with relative imports, DVC's md5 and
cache layout from DVC itself, the params a node binds, and the fingerprint's formula."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.support import run

from reprokit.core.content.code import (
    absolute_module,
    code_modules,
    imported_modules,
    source_closure,
)
from reprokit.core.content.files import cache_object, dvc_cache_dir, file_md5
from reprokit.core.content.fingerprint import compute_fingerprint
from reprokit.core.content.params import bound_params

# --- code dependencies -------------------------------------------------------------------------


def write(root: Path, relative: str, text: str = "") -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("module", "level", "package", "expected"),
    [
        ("b", 0, "pkg", "b"),  # absolute: as written
        ("b", 1, "pkg.sub", "pkg.sub.b"),  # from .b
        (None, 1, "pkg.sub", "pkg.sub"),  # from . import x
        ("e", 2, "pkg.sub", "pkg.e"),  # from ..e
        (None, 3, "pkg.sub", None),  # above the top-level package: Python refuses it
    ],
)
def test_absolute_module_resolves_relative_levels(
    module: str | None, level: int, package: str, expected: str | None
) -> None:
    assert absolute_module(module, level, package) == expected


def test_relative_imports_are_code_deps(tmp_path: Path) -> None:
    write(tmp_path, "src/pkg/__init__.py", "from .registry import REGISTRY\n")
    write(tmp_path, "src/pkg/registry.py")
    write(tmp_path, "src/pkg/nodes.py", "from . import helpers\nfrom .maths import clip\n")
    write(tmp_path, "src/pkg/helpers.py")
    write(tmp_path, "src/pkg/maths.py", "from .sub.deep import x\n")
    write(tmp_path, "src/pkg/sub/__init__.py")
    write(tmp_path, "src/pkg/sub/deep.py", "from ..shared import y\n")
    write(tmp_path, "src/pkg/shared.py")
    write(tmp_path, "src/pkg/unused.py")

    files = source_closure(["pkg.nodes"], tmp_path)

    assert files == [
        "src/pkg/__init__.py",
        "src/pkg/helpers.py",
        "src/pkg/maths.py",
        "src/pkg/nodes.py",
        "src/pkg/registry.py",  # imported relatively by the package's __init__
        "src/pkg/shared.py",
        "src/pkg/sub/__init__.py",
        "src/pkg/sub/deep.py",
    ]


def test_imports_nested_in_any_statement_are_found() -> None:
    source = """
import top
def f():
    import in_function
    class C:
        from in_class import x
    try:
        import in_try
    except ImportError:
        import in_handler
    else:
        import in_else
    finally:
        import in_finally
    with open("x"):
        import in_with
    for _ in []:
        import in_for
    else:
        import in_for_else
    while False:
        import in_while
    match 1:
        case 1:
            import in_case
    if True:
        import in_if
    else:
        import in_if_else
"""
    found = imported_modules(source, "pkg.mod")
    expected = {"top", "in_class", "in_class.x"} | {
        f"in_{name}"
        for name in (
            "function",
            "try",
            "handler",
            "else",
            "finally",
            "with",
            "for",
            "for_else",
            "while",
            "case",
            "if",
            "if_else",
        )
    }
    assert found == expected


def test_an_edited_file_is_read_again(tmp_path: Path) -> None:
    """The per-process cache of parsed imports is keyed by the file's version."""
    write(tmp_path, "src/pkg/__init__.py")
    write(tmp_path, "src/pkg/nodes.py")
    write(tmp_path, "src/pkg/extra.py")
    assert source_closure(["pkg.nodes"], tmp_path) == ["src/pkg/__init__.py", "src/pkg/nodes.py"]

    write(tmp_path, "src/pkg/nodes.py", "from . import extra\n")

    assert "src/pkg/extra.py" in source_closure(["pkg.nodes"], tmp_path)


def test_code_modules_start_at_functions_dataset_classes_and_validators() -> None:
    from reprokit.config.models import NodeSpec

    node = NodeSpec(func="pkg.nodes.train", inputs={"frame": "table"}, outputs="model")
    catalog = {
        "table": {
            "type": "pkg.io.TableDataset",
            "filepath": "t.parquet",
            "validator": {"class": "pkg.checks.Check"},
        },
        "model": {"type": "pkg.io.ModelDataset", "filepath": "m.txt", "validator": "pkg.v.V"},
        "memory": {"type": "pkg.io.NotAFile"},  # no filepath: not a file the node's code reads
    }
    assert code_modules([node], catalog) == ["pkg.checks", "pkg.io", "pkg.nodes", "pkg.v"]


def test_fingerprint_and_node_cache_import_no_upper_layer(project_root: Path) -> None:
    """The project's fingerprint and the node cache need neither the engines, nor the DVC
    generator, nor the sweeps (the data used to climb back up through them)."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from reprokit.config.compose import workspace_from_params_file\n"
        "from reprokit.node_cache import NodeCache\n"
        "from reprokit.tracking.session import fingerprint_of\n"
        f"ws = workspace_from_params_file(Path({str(project_root)!r}))\n"
        "files = fingerprint_of(ws.config, ws.params, ws.root)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[:2] in "
        "(['reprokit', 'engines'], ['reprokit', 'dvcgen'], ['reprokit', 'sweeps'])))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


def test_engine_code_is_found_by_location() -> None:
    from reprokit.core.content.code import engine_modules

    assert "reprokit.engines.dask.engine" in engine_modules()


# --- file hashes and DVC's cache ---------------------------------------------------------------


@pytest.mark.slow
def test_file_md5_and_cache_object_are_dvcs(tmp_path: Path) -> None:
    """`dvc add` records the md5 file_md5 computes (CRLF text included: DVC 3 hashes bytes
    as they are) and stores the file where cache_object says."""
    run(["dvc", "init", "--no-scm", "-q"], tmp_path)
    data = tmp_path / "table.csv"
    data.write_bytes(b"a,b\r\n1,2\r\n")
    run(["dvc", "add", "-q", "table.csv"], tmp_path)
    recorded = yaml.safe_load((tmp_path / "table.csv.dvc").read_text())["outs"][0]["md5"]

    assert file_md5(data) == recorded
    cache_dir = dvc_cache_dir(tmp_path)
    assert cache_dir is not None
    assert cache_object(cache_dir, recorded).read_bytes() == data.read_bytes()


@pytest.mark.parametrize(
    "content",
    [b"", b"a,b\r\n1,2\r\n", b"text\nonly\n", bytes(range(256)) * 9000],
    ids=["empty", "crlf-text", "lf-text", "binary-over-a-chunk"],
)
def test_file_md5_is_dvc_datas_default_md5(tmp_path: Path, content: bytes) -> None:
    """file_md5 hashes with hashlib (dvc_data's import is not paid by every stage); it must
    stay the hash dvc_data computes for DVC 3 outputs, text and binary alike."""
    from dvc_data.hashfile.hash import file_md5 as dvc_file_md5

    path = tmp_path / "file"
    path.write_bytes(content)
    assert file_md5(path) == dvc_file_md5(str(path))


def test_dvc_cache_dir_outside_a_dvc_project_is_none(tmp_path: Path) -> None:
    assert dvc_cache_dir(tmp_path) is None


# --- params a node binds -----------------------------------------------------------------------


def test_bound_params_are_the_bound_values_without_non_result_keys() -> None:
    params = {
        "model": {"params": {"learning_rate": 0.1, "num_leaves": 31}},
        "engine": {"num_threads": 8},
    }
    bindings = {"rate": "model.params.learning_rate", "threads": "engine.num_threads"}
    assert bound_params(bindings, params) == {"rate": 0.1}
    # A value the node does not bind is not part of its key.
    other = {**params, "model": {"params": {"learning_rate": 0.1, "num_leaves": 63}}}
    assert bound_params(bindings, other) == bound_params(bindings, params)
    with pytest.raises(KeyError, match=r"model\.params\.missing"):
        bound_params({"x": "model.params.missing"}, params)


# --- the fingerprint ---------------------------------------------------------------------------


def test_fingerprint_formula_is_unchanged(tmp_path: Path) -> None:
    """The values below were computed by tracking/fingerprint.py before the move: recorded
    runs and dvc.lock compare against fingerprints composed exactly this way."""
    (tmp_path / "raw.csv").write_bytes(b"a,b\r\n1,2\r\n")
    (tmp_path / "mod.py").write_text("x = 1\n")
    (tmp_path / "uv.lock").write_text("lock\n")
    params = {
        "model": {"lr": 0.1},
        "tracking": {"uri": "x"},
        "engine": {"num_threads": 4, "kind": "local"},
    }
    inputs = {"raw": tmp_path / "raw.csv", "gone": tmp_path / "nope"}

    fingerprint = compute_fingerprint(params, tmp_path, inputs, ["mod.py"])

    assert fingerprint.as_dict() == {
        "value": "6034d90724b0facd1e18c7ce622d16ad3c0227044fb84ce5819251c398b37d5b",
        "config_hash": "e067f807d3c2b1c55b5ca581395d69dc0860955d57ca32328df4aa36ca6137c9",
        "data_hashes": {"gone": "missing", "raw": "b202f333fba4fd38d4b8e5e693077aab"},
        "code_hash": "0e4193e1dd0c2b5a9b6067f920f61e0ca3724196a6caa8654cacf6379b4c67ab",
        "lock_hash": "d8c9f2728aa278ebcd33ccedf3ad309a866870ad5fb93a03526b4b7655c9e911",
    }
