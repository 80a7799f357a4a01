"""Dataset roles: the catalog datasets reprokit's own code must find (to track, package,
monitor, reproduce), declared in each entry's metadata rather than known by name.

    model:                          # any name: reprokit looks for the role
      type: reprokit.datasets.TextDataset
      filepath: data/06_models/model.txt
      metadata: {reprokit: {role: model}}

Each role is declared at most once; `reprokit config compose` refuses an unknown role or a
role on two datasets, naming the catalog file (conf/catalog/...). A catalog that declares
no role at all was composed before roles existed (a recorded run's config, say): there each
role is the dataset of the role's own name, as it always was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reprokit.errors import ConfigError

MODEL = "model"  # the trained model's native file
FEATURE_STATE = "feature_state"  # the fitted feature state (JSON)
REFERENCE_PROFILE = "reference_profile"  # training data and predictions, for monitoring
# A bounded sample of the train split with the model's held-out predictions: Evidently's
# reference table.
REFERENCE_SAMPLE = "reference_sample"
TEST_SPLIT = "test"  # the split the metrics come from: promotion compares models on it
TRAINING_HISTORY = "training_history"  # each iteration's validation metric (optional)
ROLES = (MODEL, FEATURE_STATE, REFERENCE_PROFILE, REFERENCE_SAMPLE, TEST_SPLIT, TRAINING_HISTORY)
# Where the readers find the catalog: the composed config (the source files are conf/catalog/).
CATALOG_SOURCE = "the catalog in params.yaml (composed from conf/catalog/)"


class DatasetRoleError(ConfigError):
    """A role reprokit needs is declared by no catalog dataset, or by several."""


def role_of(entry: Any) -> Any:
    """The role an entry declares (`metadata.reprokit.role`), or None."""
    metadata = entry.get("metadata") if isinstance(entry, Mapping) else None
    reprokit = metadata.get("reprokit") if isinstance(metadata, Mapping) else None
    return reprokit.get("role") if isinstance(reprokit, Mapping) else None


def declared_roles(catalog: Mapping[str, Any]) -> dict[Any, list[str]]:
    """Every declared role (known or not) and the datasets declaring it, in catalog order."""
    declared: dict[Any, list[str]] = {}
    for name, entry in catalog.items():
        role = role_of(entry)
        if role is not None:
            declared.setdefault(role, []).append(str(name))
    return declared


def role_problems(catalog: Mapping[str, Any]) -> list[str]:
    """What is wrong with a catalog's roles: unknown roles, roles on several datasets."""
    problems: list[str] = []
    for role, names in declared_roles(catalog).items():
        if role not in ROLES:
            problems.append(
                f"datasets {names} declare the unknown role {role!r} "
                f"(metadata.reprokit.role); known roles: {list(ROLES)}"
            )
        elif len(names) > 1:
            problems.append(f"the role {role!r} is declared by several datasets: {names}")
    return problems


def role_dataset(catalog: Mapping[str, Any], role: str, source: str = CATALOG_SOURCE) -> str | None:
    """The name of the dataset with `role`, or None when the catalog declares none.

    Raises:
        DatasetRoleError: Several datasets declare it; the message names them and `source`.
    """
    declared = declared_roles(catalog)
    if not declared:  # a catalog from before roles: the role's own name
        return role if role in catalog else None
    names = declared.get(role, [])
    if len(names) > 1:
        raise DatasetRoleError(
            f"{source}: the role {role!r} is declared by several datasets: {names}; keep "
            f"`metadata: {{reprokit: {{role: {role}}}}}` on one of them"
        )
    return names[0] if names else None


def required_dataset(catalog: Mapping[str, Any], role: str, source: str = CATALOG_SOURCE) -> str:
    """The name of the dataset with `role`.

    Raises:
        DatasetRoleError: No dataset, or several, declare it; the message names `source`
            and the fix.
    """
    name = role_dataset(catalog, role, source)
    if name is None:
        raise DatasetRoleError(
            f"{source}: no dataset declares the role {role!r}; add "
            f"`metadata: {{reprokit: {{role: {role}}}}}` to the catalog entry of that dataset"
        )
    return name


def params_dataset(params: Mapping[str, Any], role: str, source: str = CATALOG_SOURCE) -> str:
    """`required_dataset` of a composed config's `catalog` (params.yaml, a run's config)."""
    catalog = params.get("catalog")
    return required_dataset(catalog if isinstance(catalog, Mapping) else {}, role, source)
