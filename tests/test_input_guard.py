"""input_guard hashes a step's inputs with the lineage core's content key."""

from __future__ import annotations

from pathlib import Path

from reprokit.core.content.files import content_hash as core_content_hash
from reprokit.input_guard import MISSING, changed_inputs, content_hash, snapshot


def test_a_file_and_a_folder_are_keyed_as_the_lineage_core_keys_them(tmp_path: Path) -> None:
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(b"\x89PNG")
    (tmp_path / "table.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    for name in ("figures", "table.csv"):
        assert content_hash(tmp_path / name) == core_content_hash(tmp_path / name)


def test_a_missing_input_has_a_marker_and_its_arrival_is_a_change(tmp_path: Path) -> None:
    before = snapshot(tmp_path, ["late.csv", "figures"])
    assert before == {"figures": MISSING, "late.csv": MISSING}
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(b"\x89PNG")
    changed = changed_inputs(tmp_path, before)
    assert list(changed) == ["figures"]
    assert changed["figures"][0] == MISSING and changed["figures"][1].endswith(".dir")
