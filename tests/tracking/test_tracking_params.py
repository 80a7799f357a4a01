"""How the composed config becomes MLflow params and what the fingerprint ignores (no store)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from reprokit.core.content.fingerprint import compute_fingerprint
from reprokit.core.content.params import result_config
from reprokit.tracking.run_view import (
    experiment_params,
    learning_curve_points,
    run_name,
    version_description,
)
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


# --- what the MLflow UI shows ---------------------------------------------------------------


def test_experiment_params_keep_the_experiment_defining_keys_only() -> None:
    params = {
        "project": {"name": "p"},
        "data": {
            "name": "credit",
            "task": "binary",
            "target": "y",
            "source": {"rows": 5},
            "schema": {"columns": {"a": {"dtype": "float"}}},
        },
        "model": {"num_leaves": 31},
        "features": {"exclude": []},
        "split": {"seed": 1},
        "evaluation": {"gate": {"roc_auc": {"min": 0.7}}, "gates": {"binary": {}}},
        "engine": {"kind": "local"},
        "pipeline": {"nodes": {}},
        "catalog": {"raw": {}},
        "tracking": {"uri": "sqlite:///x"},
        "serving": {"enabled": True},
    }
    assert experiment_params(params) == {
        "data": {"name": "credit", "task": "binary", "target": "y", "source": {"rows": 5}},
        "model": {"num_leaves": 31},
        "features": {"exclude": []},
        "split": {"seed": 1},
        "evaluation": {"gate": {"roc_auc": {"min": 0.7}}},
        "engine": {"kind": "local"},
    }
    assert "gates" in params["evaluation"]  # the input is untouched


def test_the_projects_config_gives_a_few_dozen_params() -> None:
    from tests.support import PROJECT_ROOT

    from reprokit.config.compose import read_params

    flat = dict(flatten(experiment_params(read_params(PROJECT_ROOT))))
    assert "model.num_leaves" in flat
    assert "data.source.rows" in flat
    assert not any(key.startswith(("pipeline.", "catalog.", "data.schema.")) for key in flat)
    assert len(flat) < 80, sorted(flat)


def test_run_names_say_how_what_and_when() -> None:
    started = datetime(2026, 12, 1, 14, 22, 33)
    assert run_name("dvc repro", [], started) == "dvc repro 1201-142233"
    assert (
        run_name("reprokit run", ["model.num_leaves=63"], started)
        == "reprokit run model.num_leaves=63 1201-142233"
    )
    assert run_name("dvc exp run", [], started, "exp-1a2b3").startswith("dvc exp run exp-1a2b3 ")
    long = run_name("reprokit run", [f"data.schema.columns.c.isin=[{'1,' * 500}1]"], started)
    assert len(long) < 100
    assert "…" in long


def test_a_version_description_names_run_fingerprint_data_and_metrics() -> None:
    text = version_description(
        "f" * 64, {"raw": "a" * 32}, {"roc_auc": 0.76419, "per_class.x.f1": 0.5}, "r1"
    )
    assert "run `r1`" in text
    assert "fingerprint `ffffffffffff`" in text
    assert "raw md5 `aaaaaaaaaaaa`" in text
    assert "roc_auc 0.7642" in text
    assert "per_class" not in text


def test_the_learning_curve_is_one_point_per_iteration() -> None:
    history = {"metric": "binary_logloss", "valid_metric": [0.6, 0.5, 0.45]}
    assert learning_curve_points(history) == [
        ("valid.binary_logloss", 0.6, 0),
        ("valid.binary_logloss", 0.5, 1),
        ("valid.binary_logloss", 0.45, 2),
    ]
    assert learning_curve_points({"metric": None, "valid_metric": []}) == []
