"""The recorded params.yaml check (reprokit.config.check_record): a pass is skipped while
nothing the check reads moved, and a stale params.yaml fails however it became stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reprokit.cli import main
from reprokit.config import compose
from reprokit.config.check_record import CHECK_RECORD, check_params_fresh
from reprokit.errors import StaleFileError


def _no_check(*_: object) -> None:
    raise AssertionError("composed conf/ although the record covers this state")


def _recorded_pass(project: Path) -> None:
    check_params_fresh(project)
    assert (project / CHECK_RECORD).is_file()


def test_a_recorded_pass_skips_the_composition(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _recorded_pass(project_copy)
    monkeypatch.setattr(compose, "check_params", _no_check)
    check_params_fresh(project_copy)


def test_a_conf_edit_after_a_pass_still_fails(project_copy: Path) -> None:
    _recorded_pass(project_copy)
    lightgbm = project_copy / "conf/model/lightgbm.yaml"
    lightgbm.write_text(lightgbm.read_text().replace("num_leaves: 31", "num_leaves: 15"))
    with pytest.raises(StaleFileError, match=r"model\.num_leaves"):
        check_params_fresh(project_copy)


def test_a_new_conf_file_after_a_pass_is_checked(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An added option file composes to the same params, but the record no longer covers
    conf/: the check runs again (and passes)."""
    _recorded_pass(project_copy)
    (project_copy / "conf/model/other.yaml").write_text("num_leaves: 7\n")
    ran: list[Path] = []
    monkeypatch.setattr(compose, "check_params", ran.append)
    check_params_fresh(project_copy)
    assert ran == [project_copy]


def test_a_params_yaml_edit_after_a_pass_still_fails(project_copy: Path) -> None:
    _recorded_pass(project_copy)
    params = project_copy / "params.yaml"
    params.write_text(params.read_text().replace("num_leaves: 31", "num_leaves: 15", 1))
    with pytest.raises(StaleFileError, match=r"model\.num_leaves"):
        check_params_fresh(project_copy)


def test_a_failed_check_records_nothing(project_copy: Path) -> None:
    params = project_copy / "params.yaml"
    params.write_text(params.read_text().replace("num_leaves: 31", "num_leaves: 15", 1))
    with pytest.raises(StaleFileError):
        check_params_fresh(project_copy)
    assert not (project_copy / CHECK_RECORD).exists()


def test_a_conf_that_reads_the_environment_is_never_recorded(project_copy: Path) -> None:
    """`oc.env` makes the composition depend on more than files: no record can vouch."""
    config = project_copy / "conf/config.yaml"
    config.write_text(config.read_text() + "# ${oc.env:HOME}\n")
    check_params_fresh(project_copy)
    assert not (project_copy / CHECK_RECORD).exists()


def test_a_record_of_another_key_is_ignored(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _recorded_pass(project_copy)
    record = project_copy / CHECK_RECORD
    record.write_text(json.dumps({"key": "0" * 64, "probes": {}}))
    ran: list[Path] = []
    monkeypatch.setattr(compose, "check_params", ran.append)
    check_params_fresh(project_copy)
    assert ran == [project_copy]


def test_dvc_check_with_params_fails_on_a_stale_params_yaml(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make repro`'s one-process check: both files checked, the recorded passes included."""
    monkeypatch.chdir(project_copy)
    runner = CliRunner()
    passed = runner.invoke(main, ["dvc", "check", "--with-params"], catch_exceptions=False)
    assert passed.exit_code == 0, passed.output
    assert "params.yaml is up to date with conf/" in passed.output
    assert "dvc.yaml is up to date with params.yaml" in passed.output
    lightgbm = project_copy / "conf/model/lightgbm.yaml"
    lightgbm.write_text(lightgbm.read_text().replace("num_leaves: 31", "num_leaves: 15"))
    failed = runner.invoke(main, ["dvc", "check", "--with-params"])
    assert failed.exit_code != 0
    assert "model.num_leaves" in failed.output
