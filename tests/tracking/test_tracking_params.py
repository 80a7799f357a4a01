"""How the composed config becomes MLflow params and what the fingerprint ignores (no store)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reprokit.core.content.fingerprint import compute_fingerprint
from reprokit.core.content.params import result_config
from reprokit.tracking.store import MAX_PARAM_LENGTH, flatten

MARKER = "...(truncated: see composed_config.yaml)"


def test_flatten_gives_dotted_keys_and_text_values() -> None:
    params = {"model": {"num_leaves": 31, "extra": {"a": None}}, "seed": 42, "cols": ["a", "b"]}
    assert dict(flatten(params)) == {
        "model.num_leaves": "31",
        "model.extra.a": "None",
        "seed": "42",
        "cols": '["a", "b"]',
    }


def test_flatten_keeps_an_empty_mapping_as_a_value() -> None:
    assert dict(flatten({"evaluation": {"gate": {}}})) == {"evaluation.gate": "{}"}


def test_a_value_over_the_limit_is_cut_to_the_limit_with_a_marker() -> None:
    long_list = list(range(5000))
    flat = dict(flatten({"data": {"isin": long_list, "name": "x" * MAX_PARAM_LENGTH}}))
    assert len(flat["data.isin"]) == MAX_PARAM_LENGTH
    assert flat["data.isin"].endswith(MARKER)
    assert flat["data.isin"].startswith("[0, 1, 2")
    # Exactly at the limit is not cut.
    assert flat["data.name"] == "x" * MAX_PARAM_LENGTH


def test_result_config_drops_only_keys_that_cannot_change_the_result() -> None:
    params = {
        "project": {"name": "p"},
        "tracking": {"enabled": True},
        "engine": {"num_threads": 4, "kind": "local"},
        "model": {"num_leaves": 31},
    }
    assert result_config(params) == {"engine": {"kind": "local"}, "model": {"num_leaves": 31}}
    assert params["engine"] == {"num_threads": 4, "kind": "local"}  # the input is untouched


def test_fingerprint_ignores_threads_and_tracking_but_not_data_or_params(tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text("a,b\n1,2\n", encoding="utf-8")
    code = tmp_path / "node.py"
    code.write_text("x = 1\n", encoding="utf-8")

    def value(params: Mapping[str, object]) -> str:
        return compute_fingerprint(params, tmp_path, {"raw": raw}, ["node.py"]).value

    base = {"model": {"num_leaves": 31}, "engine": {"num_threads": 0}}
    reference = value(base)
    assert value({**base, "engine": {"num_threads": 8}, "tracking": {"uri": "x"}}) == reference
    assert value({**base, "model": {"num_leaves": 63}}) != reference
    raw.write_text("a,b\n1,3\n", encoding="utf-8")
    assert value(base) != reference
