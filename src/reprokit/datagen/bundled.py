"""Real datasets that ship inside the scikit-learn wheel, so they load without a network."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd

BUNDLED_NAMES = ("breast_cancer", "diabetes", "wine")
ID_COLUMN = "row_id"
TARGET_COLUMN = "target"


def _load_breast_cancer() -> tuple[pd.DataFrame, type[np.generic]]:
    # Imported here: scikit-learn takes about a second to import and most runs never need it.
    from sklearn.datasets import load_breast_cancer

    # sklearn's coding: 0 = malignant, 1 = benign.
    return load_breast_cancer(as_frame=True).frame, np.int64


def _load_diabetes() -> tuple[pd.DataFrame, type[np.generic]]:
    from sklearn.datasets import load_diabetes

    # Unscaled: the original units (age in years, sex coded 1/2), as a user's own table would be.
    return load_diabetes(as_frame=True, scaled=False).frame, np.float64


def _load_wine() -> tuple[pd.DataFrame, type[np.generic]]:
    from sklearn.datasets import load_wine

    # Three cultivars coded 0, 1, 2: a small multiclass table.
    return load_wine(as_frame=True).frame, np.int64


_LOADERS: dict[str, Callable[[], tuple[pd.DataFrame, type[np.generic]]]] = {
    "breast_cancer": _load_breast_cancer,
    "diabetes": _load_diabetes,
    "wine": _load_wine,
}


def snake_case(name: str) -> str:
    """ASCII snake_case: ``"mean radius"`` -> ``"mean_radius"``, ``"meanRadius"`` -> likewise."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    split_camel = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", ascii_name)
    return re.sub(r"[^0-9a-zA-Z]+", "_", split_camel).strip("_").lower()


def _normalised_columns(columns: pd.Index) -> list[str]:
    names = [snake_case(str(column)) for column in columns]
    # The id and target columns are added afterwards, so a feature must not take their names.
    taken = [*names, ID_COLUMN, TARGET_COLUMN]
    if len(set(taken)) != len(taken) or "" in names:
        raise ValueError(f"columns {list(columns)} do not map to unique snake_case names")
    return names


def load_bundled(name: str) -> pd.DataFrame:
    """Load a dataset bundled with scikit-learn as a tidy table.

    Columns are ``row_id`` (int64, 0..n-1), the features in snake_case, then ``target``
    (int64 for ``breast_cancer`` and ``wine``, float64 for ``diabetes``).

    Raises:
        ValueError: ``name`` is not one of `BUNDLED_NAMES`.
    """
    loader = _LOADERS.get(name)
    if loader is None:
        raise ValueError(f"unknown bundled dataset {name!r}; expected one of {BUNDLED_NAMES}")
    raw, target_dtype = loader()
    features = raw.drop(columns=[TARGET_COLUMN])
    features.columns = pd.Index(_normalised_columns(features.columns))
    table = features.reset_index(drop=True).astype("float64")
    table.insert(0, ID_COLUMN, np.arange(len(table), dtype=np.int64))
    table[TARGET_COLUMN] = raw[TARGET_COLUMN].to_numpy(dtype=target_dtype)
    return table
