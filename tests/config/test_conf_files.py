"""Errors in the files of conf/ themselves: YAML syntax, duplicate keys, defaults cycles.
Each is one message naming the file and line (or the files of the cycle), exit 2, no
traceback; Hydra gave PyYAML's traceback or a RecursionError thousands of lines long."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.project import copy_project
from tests.support.tools import run

from reprokit.config.conf_files import (
    ConfFileError,
    DefaultsCycleError,
    check_defaults_cycle,
    find_cycle,
    key_near,
    load_conf_file,
)


def test_a_duplicate_key_names_the_file_both_lines_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("kind: lightgbm\nnested:\n  a: 1\n  b: 2\n  a: 3\n", encoding="utf-8")
    with pytest.raises(ConfFileError) as raised:
        load_conf_file(path, "conf/model/m.yaml")
    assert str(raised.value).startswith(
        "conf/model/m.yaml, line 5: key `a` is set twice (first on line 3)"
    )


def test_a_syntax_error_names_the_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("kind: lightgbm\nnum_leaves: [31, 7\nseed: 1\n", encoding="utf-8")
    with pytest.raises(ConfFileError, match=r"^conf/m.yaml, line 3 \(at key `seed`\): not valid"):
        load_conf_file(path, "conf/m.yaml")


def test_the_key_near_a_line_is_on_it_or_above_it() -> None:
    lines = ["# comment", "model:", "  kind: x", "    - broken", "- item: 1"]
    assert key_near(lines, 3) == "kind"
    assert key_near(lines, 4) == "kind"
    assert key_near(lines, 5) == "item"
    assert key_near(lines, 1) is None


def test_a_cycle_is_found_directly_and_through_another_file() -> None:
    a, b, c = Path("a"), Path("b"), Path("c")
    assert find_cycle({a: [a]}) == [a, a]
    assert find_cycle({a: [b], b: [c], c: [a]}) == [a, b, c, a]
    assert find_cycle({a: [b, c], b: [c], c: []}) is None


def test_defaults_entries_resolve_relative_and_absolute_with_keywords(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "model").mkdir(parents=True)
    (conf / "data").mkdir()
    (conf / "config.yaml").write_text("defaults:\n  - model: a\n  - _self_\n", encoding="utf-8")
    (conf / "model" / "a.yaml").write_text("defaults:\n  - override /data: d\n", encoding="utf-8")
    (conf / "data" / "d.yaml").write_text("defaults:\n  - /model/a@x\n", encoding="utf-8")
    with pytest.raises(DefaultsCycleError) as raised:
        check_defaults_cycle(conf)
    assert "conf/model/a.yaml -> conf/data/d.yaml -> conf/model/a.yaml" in str(raised.value)


def test_the_projects_own_conf_has_no_cycle(project_root: Path) -> None:
    check_defaults_cycle(project_root / "conf")


BROKEN = {
    "syntax": ("  bad: [1, 2\n", "conf/model/lightgbm.yaml, line 19 (at key `bad`): not valid"),
    "duplicate": ("num_leaves: 7\n", "conf/model/lightgbm.yaml, line 19: key `num_leaves` is"),
    "cycle": (
        None,
        "conf/model/lightgbm.yaml -> conf/model/xgboost.yaml -> conf/model/lightgbm.yaml",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_config_check_reports_a_broken_conf_file_cleanly(tmp_path: Path, case: str) -> None:
    project = copy_project(tmp_path)
    model = project / "conf" / "model"
    appended, expected = BROKEN[case]
    if appended is None:  # lightgbm includes xgboost, which includes lightgbm
        for name, other in (("lightgbm", "xgboost"), ("xgboost", "lightgbm")):
            path = model / f"{name}.yaml"
            path.write_text(f"defaults:\n  - {other}\n  - _self_\n" + path.read_text("utf-8"))
    else:
        with (model / "lightgbm.yaml").open("a", encoding="utf-8") as file:
            file.write(appended)
    result = run(["reprokit", "config", "check"], project, check=False)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.splitlines()) == 1
