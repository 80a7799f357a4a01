"""The quick exit after a stage's command: it happens only for the console script's own run
of a marked command that succeeded, never in-process and never with a thread left."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.support import run

from reprokit import cli_exit
from reprokit.cli import main


def test_in_process_invocations_return_to_the_caller(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `dvc check` is marked; CliRunner passes its own arguments, so the process survives.
    monkeypatch.chdir(project_copy)
    result = CliRunner().invoke(main, ["dvc", "check"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output


def test_no_quick_exit_while_a_non_daemon_thread_runs() -> None:
    cli_exit._finished.append(True)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert not cli_exit.may_exit_quickly(0)
    finally:
        stop.set()
        worker.join()
        cli_exit._finished.clear()


def test_only_a_marked_success_exits_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    # This process's own state, not what earlier tests in the worker left: a marked command
    # run in-process (CliRunner) marks it, and a library may leave a non-daemon thread (the
    # thread rule has its own test above).
    monkeypatch.setattr(cli_exit, "_finished", [])
    monkeypatch.setattr(cli_exit, "_threads_left", lambda: False)
    assert not cli_exit.may_exit_quickly(0)  # nothing marked has run
    cli_exit._finished.append(True)
    assert cli_exit.may_exit_quickly(0)
    assert cli_exit.may_exit_quickly(None)
    assert not cli_exit.may_exit_quickly(1)


def test_the_console_script_delivers_its_output_and_files(project_copy: Path) -> None:
    """`reprokit dvc check` ends with os._exit: its flushed output and the record it wrote
    are there, and it exits 0."""
    result = run(["reprokit", "dvc", "check"], project_copy)
    assert result.stdout.strip() == "dvc.yaml is up to date with params.yaml"
    assert (project_copy / ".reprokit" / "cache" / "dvc_check.json").is_file()
