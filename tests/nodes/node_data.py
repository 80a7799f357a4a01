"""Small synthetic tables, their schema and params for the node tests (built in memory).

A plain module (not conftest) so test modules can import the builders by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from reprokit.nodes.features import fit_feature_state

TARGET = "label"
ID = "row_id"
TIMESTAMP = "event_time"
GROUP = "branch"
COLORS = ("blue", "green", "red")

SCHEMA: dict[str, Any] = {
    "strict": True,
    "columns": {
        ID: {"dtype": "int64", "unique": True},
        TIMESTAMP: {"dtype": "datetime64[ns]"},
        GROUP: {"dtype": "int64"},
        "x1": {"dtype": "float64"},
        "x2": {"dtype": "float64", "nullable": True},
        "count": {"dtype": "int64"},
        "income": {"dtype": "float64", "nullable": True},
        "debt": {"dtype": "float64"},
        "color": {"dtype": "str", "nullable": True},
        "flag": {"dtype": "bool"},
        TARGET: {"dtype": "int64"},
    },
}

FEATURES: dict[str, Any] = {
    "numeric": "auto",
    "categorical": "auto",
    "exclude": [],
    "unseen_category": "other",
    "min_category_frequency": 0.0,
    "derived": [
        {"name": "debt_ratio", "kind": "ratio", "numerator": "debt", "denominator": "income"},
        {"name": "log_income", "kind": "log", "column": "income"},
        {
            "name": "event",
            "kind": "date_parts",
            "column": TIMESTAMP,
            "parts": ["month", "dayofweek"],
        },
    ],
}

SPLIT: dict[str, Any] = {"kind": "stratified", "test_size": 0.2, "valid_size": 0.1, "seed": 3}

MODEL: dict[str, Any] = {
    "objective": "binary",
    "num_leaves": 7,
    "learning_rate": 0.1,
    "n_estimators": 60,
    "early_stopping_rounds": 10,
    "min_child_samples": 5,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "deterministic": True,
    "histogram": "row_wise",
    "seed": 11,
}


def make_frame(task: str, rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """A learnable table: the target depends on x1 and color; x2 and count are noise."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows)
    color = np.asarray(COLORS, dtype=object)[rng.integers(0, len(COLORS), size=rows)]
    color[rng.random(rows) < 0.05] = None
    color[0] = "violet"  # a category seen exactly once: rare
    income = rng.uniform(1_000, 5_000, size=rows)
    income[rng.random(rows) < 0.05] = np.nan
    signal = 2.0 * x1 + np.where(color == "red", 1.5, 0.0)
    noisy = signal + rng.normal(scale=0.5, size=rows)
    frame = pd.DataFrame(
        {
            ID: np.arange(rows, dtype=np.int64),
            # Three rows per day, so timestamps tie and the time split must respect that.
            TIMESTAMP: pd.Timestamp("2021-01-01") + pd.to_timedelta(np.arange(rows) // 3, "D"),
            GROUP: (np.arange(rows) % 30).astype(np.int64),
            "x1": x1,
            "x2": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(size=rows)),
            "count": rng.integers(0, 10, size=rows).astype(np.int64),
            "income": income,
            "debt": rng.uniform(0, 2_000, size=rows),
            "color": pd.Series(color, dtype="str"),
            "flag": rng.random(rows) < 0.5,
        }
    )
    if task == "binary":
        frame[TARGET] = (noisy > 0.5).astype(np.int64)
    elif task == "multiclass":
        cuts = np.quantile(noisy, [1 / 3, 2 / 3])
        names = np.asarray(["high", "low", "mid"], dtype=object)
        frame[TARGET] = pd.Series(names[[1, 2, 0]][np.searchsorted(cuts, noisy)], dtype="str")
    else:
        frame[TARGET] = 10.0 + noisy
    return frame


def schema_for(task: str) -> dict[str, Any]:
    columns = dict(SCHEMA["columns"])
    columns[TARGET] = {"dtype": {"binary": "int64", "multiclass": "str"}.get(task, "float64")}
    return {**SCHEMA, "columns": columns}


def fit(train: pd.DataFrame, task: str, **features: Any) -> dict[str, Any]:
    return fit_feature_state(
        train,
        features={**FEATURES, **features},
        schema=schema_for(task),
        target=TARGET,
        task=task,
        id_column=ID,
        timestamp_column=TIMESTAMP,
        group_column=GROUP,
    )


def model_params(task: str, **overrides: Any) -> dict[str, Any]:
    return {**MODEL, "objective": task, **overrides}
