"""One project, one namespace: two copies of the project share ONE BentoML store (the
user-global ~/bentoml case, here one temporary BENTOML_HOME) and each serves only its own
packaged model; a copy with none of its own fails instead of taking another's.

Real `reprokit run`, `reprokit package`, `reprokit predict` and bentoml, in subprocesses.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from tests.support import copy_project, run, tool_env
from tests.support.templates import relocated_copy

from reprokit.serving.store import (
    INSTANCE_LABEL,
    ProjectIdentity,
    bento_model_tags,
    project_identity,
)

pytestmark = pytest.mark.xdist_group("serving")

TEST_SPLIT = "data/03_primary/test.parquet"


@dataclass(frozen=True)
class Copy:
    root: Path
    env: dict[str, str]
    tag: str | None  # what `reprokit package` saved; None: never packaged


def reprokit(copy: Copy, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["reprokit", *args], copy.root, check=check, env=copy.env)


def packaged_copy(root: Path, store: Path, *overrides: str) -> Copy:
    """`root` packaged into `store`; with `overrides`, after a `reprokit run` with them (else
    `root` is a trained copy already)."""
    copy = Copy(root=root, env={**tool_env(root), "BENTOML_HOME": str(store)}, tag=None)
    if overrides:
        reprokit(copy, "run", *overrides)
    tag = reprokit(copy, "package").stdout.strip().split()[-1]
    return Copy(root=root, env=copy.env, tag=tag)


@pytest.fixture(scope="module")
def copies(
    tmp_path_factory: pytest.TempPathFactory, trained_template: Path
) -> tuple[Copy, Copy, Path]:
    """Two copies of the trained default project (each at its own root: its own project
    instance), packaged into one store."""
    base = tmp_path_factory.mktemp("namespace")
    store = base / "bentoml"
    first = packaged_copy(relocated_copy(trained_template, base / "first"), store)
    second = packaged_copy(relocated_copy(trained_template, base / "second"), store)
    return first, second, store


def predicted_by(copy: Copy, *args: str, check: bool = True) -> str:
    """`reprokit predict` on the test split; its output (stderr too when `check` is off)."""
    result = reprokit(
        copy, "predict", "--input", TEST_SPLIT, "--output", "scored.csv", *args, check=check
    )
    return f"{result.returncode}\n{result.stdout}\n{result.stderr}"


@pytest.mark.slow
def test_each_copy_serves_its_own_model_and_one_without_fails(
    copies: tuple[Copy, Copy, Path], mlflow_db_template: Path
) -> None:
    first, second, store = copies
    # Same config, data and code: the same model bytes and fingerprint, one model name.
    assert first.tag != second.tag
    assert first.tag and second.tag and first.tag.split(":")[0] == second.tag.split(":")[0]
    assert first.tag.split(":")[0] == "reprokit-credit"
    # Each copy's `reprokit predict` (no --model) resolves its own model.
    assert f"(model {first.tag})" in predicted_by(first)
    assert f"(model {second.tag})" in predicted_by(second)
    # A third copy with no packaged model of its own refuses, naming what it will not take.
    root = copy_project(first.root.parent / "third", mlflow_db_template)
    third = Copy(root=root, env={**tool_env(root), "BENTOML_HOME": str(store)}, tag=None)
    refused = predicted_by(third, check=False)
    assert refused.startswith("1\n"), refused
    assert "no packaged model of project 'reprokit'" in refused
    assert first.tag in refused and "never served here" in refused
    assert not (root / "scored.csv").exists()


@pytest.mark.slow
def test_several_candidates_without_a_champion_is_an_error_naming_them(
    copies: tuple[Copy, Copy, Path], trained_template: Path
) -> None:
    _, _, store = copies
    root = relocated_copy(trained_template, store.parent / "fourth")
    first = packaged_copy(root, store)
    other = packaged_copy(root, store, "model.num_leaves=7")
    from mlflow import MlflowClient

    # Two packaged models of this project; without a champion alias nothing singles one out.
    MlflowClient(f"sqlite:///{root / 'mlruns.db'}").delete_registered_model_alias(
        "reprokit-credit", "champion"
    )
    refused = predicted_by(first, check=False)
    assert refused.startswith("1\n"), refused
    assert first.tag and other.tag
    assert "2 packaged models of project 'reprokit'" in refused
    assert first.tag in refused and other.tag in refused
    assert "--model TAG" in refused and "REPROKIT_MODEL_TAG" in refused
    assert f"(model {other.tag})" in predicted_by(first, "--model", other.tag)


def test_inside_a_built_bento_this_project_is_the_bentos_models(tmp_path: Path) -> None:
    """A Bento runs from its `src/`, another path than the project that packaged: there the
    models its bento.yaml lists are the project's (the instance id cannot match)."""
    bento = tmp_path / "bento"
    (bento / "src").mkdir(parents=True)
    (bento / "bento.yaml").write_text(
        yaml.safe_dump({"models": [{"tag": "reprokit-credit:abc", "module": ""}]})
    )
    project = project_identity("reprokit", "credit", bento / "src")
    assert project.instance is None and project.bento_models == {"reprokit-credit:abc"}
    labels = {"project": "reprokit", "data": "credit", INSTANCE_LABEL: "elsewhere"}
    assert project.owns("reprokit-credit:abc", labels)
    assert not project.owns("reprokit-credit:other", labels)
    assert not project.owns("reprokit-credit:abc", {**labels, "data": "diabetes"})
    assert bento_model_tags(tmp_path / "missing.yaml") is None
    outside = project_identity("reprokit", "credit", tmp_path)
    assert isinstance(outside, ProjectIdentity) and outside.instance is not None
    assert not outside.owns("reprokit-credit:abc", labels)


def test_a_bento_of_a_new_style_service_lists_its_models_under_services(tmp_path: Path) -> None:
    """`bentoml build` of a `@bentoml.service` writes `models: []` at the top and the models
    under `services[].models`: those are the Bento's (its image served nothing before)."""
    (tmp_path / "bento.yaml").write_text(
        yaml.safe_dump(
            {
                "models": [],
                "services": [{"name": "reprokit", "models": [{"tag": "reprokit-credit:abc"}]}],
            }
        )
    )
    assert bento_model_tags(tmp_path / "bento.yaml") == {"reprokit-credit:abc"}
