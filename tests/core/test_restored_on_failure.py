"""A failed run publishes none of its outputs: each is put back as it was before."""

from __future__ import annotations

from pathlib import Path

import pytest

from reprokit.core.fs import atomic_path, restored_on_failure


def test_a_failure_restores_changed_files_and_folders_and_removes_new_ones(
    tmp_path: Path,
) -> None:
    kept, folder, new = tmp_path / "kept.parquet", tmp_path / "model", tmp_path / "new.json"
    kept.write_bytes(b"previous")
    folder.mkdir()
    (folder / "part-0").write_bytes(b"old part")
    with pytest.raises(RuntimeError), restored_on_failure([kept, folder, new]):
        with atomic_path(kept) as tmp:
            tmp.write_bytes(b"half a result")
        (folder / "part-0").unlink()
        (folder / "part-1").write_bytes(b"new part")
        new.write_text("{}")
        raise RuntimeError("the next node failed")
    assert kept.read_bytes() == b"previous"
    assert sorted(p.name for p in folder.iterdir()) == ["part-0"]
    assert (folder / "part-0").read_bytes() == b"old part"
    assert not new.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.parquet", "model"]


def test_success_keeps_the_new_outputs_and_leaves_no_backup(tmp_path: Path) -> None:
    out = tmp_path / "primary.parquet"
    out.write_bytes(b"previous")
    with restored_on_failure([out]), atomic_path(out) as tmp:
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["primary.parquet"]


class RefusedError(Exception):
    pass


def test_a_refusal_keeps_the_outputs_even_when_wrapped(tmp_path: Path) -> None:
    """A quality gate's refusal: the run finished, its outputs stay (named by its run)."""
    model = tmp_path / "model.txt"
    model.write_text("previous")
    with pytest.raises(RuntimeError), restored_on_failure([model], keep_on=(RefusedError,)):
        model.write_text("refused by the gate")
        try:
            raise RefusedError("roc_auc below min")
        except RefusedError as refused:
            raise RuntimeError("node quality_gate failed") from refused
    assert model.read_text() == "refused by the gate"
