"""The recorded dvc.yaml check (reprokit.dvcgen.freshness): a pass is skipped while nothing
a render reads moved, and a stale dvc.yaml fails however it became stale."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprokit.config.compose import load_config
from reprokit.dvcgen import freshness
from reprokit.dvcgen.freshness import CHECK_RECORD, check_dvc_yaml_fresh
from reprokit.errors import StaleFileError


def _no_render(*_: object) -> None:
    raise AssertionError("rendered dvc.yaml although the record covers this state")


def test_a_recorded_pass_skips_the_render(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(project_copy)
    check_dvc_yaml_fresh(config, project_copy)
    assert (project_copy / CHECK_RECORD).is_file()
    monkeypatch.setattr(freshness, "check_dvc_yaml", _no_render)
    check_dvc_yaml_fresh(config, project_copy)


def test_a_hand_edit_of_dvc_yaml_still_fails(project_copy: Path) -> None:
    config = load_config(project_copy)
    check_dvc_yaml_fresh(config, project_copy)
    dvc_yaml = project_copy / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text().replace("- split\n", "- splitt\n", 1))
    with pytest.raises(StaleFileError, match=r"dvc\.yaml is stale"):
        check_dvc_yaml_fresh(config, project_copy)


def test_a_node_module_gaining_an_import_makes_it_stale(project_copy: Path) -> None:
    """An edited source file (its stamp) and a new one (a probe that was absent) both
    change the stages' code deps; the record must not vouch for the old ones."""
    config = load_config(project_copy)
    check_dvc_yaml_fresh(config, project_copy)
    nodes = project_copy / "src" / "reprokit" / "nodes"
    (nodes / "split_helper.py").write_text("HELPER = 1\n")
    split = nodes / "split.py"
    split.write_text(split.read_text() + "\nfrom reprokit.nodes import split_helper  # noqa\n")
    with pytest.raises(StaleFileError, match=r"stages that differ: \[.*'prepare'"):
        check_dvc_yaml_fresh(config, project_copy)


def test_a_new_project_module_shadowing_a_library_makes_it_stale(project_copy: Path) -> None:
    """`src/numpy.py` would be the `numpy` the nodes import: a path the closures probed
    and found absent appeared, so the deps change without any recorded file changing."""
    config = load_config(project_copy)
    check_dvc_yaml_fresh(config, project_copy)
    (project_copy / "src" / "numpy.py").write_text("")
    with pytest.raises(StaleFileError, match="stages that differ"):
        check_dvc_yaml_fresh(config, project_copy)
