"""Dataset roles: reprokit finds the model, feature state and profile by the role their
catalog entry declares, never by the dataset's name."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from reprokit.config.compose import compose_and_validate
from reprokit.config.roles import (
    FEATURE_STATE,
    MODEL,
    REFERENCE_PROFILE,
    DatasetRoleError,
    required_dataset,
    role_dataset,
)
from reprokit.dvcgen.generate import stages_for
from reprokit.errors import ConfigError
from reprokit.tracking.recorder import hashed_files

ROOT = Path(__file__).resolve().parents[2]
# The catalog's model dataset, renamed: its role moves with it (conf/catalog/default.yaml).
RENAMED = [
    "~catalog.model.metadata",
    "+catalog.booster={type: reprokit.datasets.TextDataset, filepath: data/06_models/b.txt, "
    "metadata: {reprokit: {role: model}}}",
    "tracking.artifacts=[metrics, feature_state, booster, reference_profile]",
]


def entry(role: str | None = None) -> dict[str, Any]:
    declared = {} if role is None else {"metadata": {"reprokit": {"role": role}}}
    return {"type": "reprokit.datasets.JSONDataset", "filepath": "x.json", **declared}


def test_a_dataset_is_found_by_its_role_whatever_its_name() -> None:
    catalog = {"model": entry(), "booster": entry(MODEL), "state": entry(FEATURE_STATE)}
    assert required_dataset(catalog, MODEL) == "booster"
    assert required_dataset(catalog, FEATURE_STATE) == "state"
    # Roles declared: a dataset named like a role does not play it.
    assert role_dataset(catalog, REFERENCE_PROFILE) is None


def test_a_catalog_from_before_roles_keeps_the_names_it_always_had() -> None:
    """A recorded run's config from before roles (no role anywhere) still reproduces."""
    legacy = {"model": entry(), "feature_state": entry()}
    assert required_dataset(legacy, MODEL) == "model"
    assert role_dataset(legacy, REFERENCE_PROFILE) is None


def test_a_missing_or_doubled_role_names_the_catalog_and_the_fix() -> None:
    with pytest.raises(DatasetRoleError, match=r"^the catalog in params\.yaml") as missing:
        required_dataset({"booster": entry(FEATURE_STATE)}, MODEL)
    assert "no dataset declares the role 'model'" in str(missing.value)
    assert "metadata: {reprokit: {role: model}}" in str(missing.value)
    doubled = {"a": entry(MODEL), "b": entry(MODEL)}
    with pytest.raises(DatasetRoleError, match=r"declared by several datasets: \['a', 'b'\]"):
        required_dataset(doubled, MODEL, "run r1's config")


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "+catalog.train_features.metadata={reprokit: {role: model}}",
            "the role 'model' is declared by several datasets: ['train_features', 'model']",
        ),
        ("+catalog.train_features.metadata={reprokit: {role: modle}}", "unknown role 'modle'"),
    ],
)
def test_compose_refuses_a_doubled_or_unknown_role_naming_the_catalog_file(
    override: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        compose_and_validate(ROOT, [override])
    assert "conf/catalog/default.yaml" in str(error.value)
    assert expected in str(error.value)


def test_a_renamed_model_dataset_is_tracked_and_packaged_by_its_role() -> None:
    _, config = compose_and_validate(ROOT, RENAMED)
    tracked = hashed_files(config, ROOT)
    assert tracked["booster"] == ROOT / "data/06_models/b.txt" and "model" not in tracked
    package = next(stage for stage in stages_for(config, ROOT) if stage.name == "package")
    assert "data/06_models/b.txt" in package.deps
    assert "data/06_models/model.txt" not in package.deps


def test_promotion_compares_models_on_the_split_with_the_test_role(tmp_path: Path) -> None:
    from reprokit.core.content.files import file_md5
    from reprokit.tracking.store import test_split_md5

    holdout = "+catalog.holdout={type: reprokit.datasets.TableDataset, filepath: holdout.parquet, "
    _, config = compose_and_validate(
        ROOT, ["~catalog.test.metadata", holdout + "metadata: {reprokit: {role: test}}}"]
    )
    (tmp_path / "holdout.parquet").write_bytes(b"the held-out rows")
    execution = SimpleNamespace(config=config, root=tmp_path)
    assert test_split_md5(execution) == file_md5(tmp_path / "holdout.parquet")
