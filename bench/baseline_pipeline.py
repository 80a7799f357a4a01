"""Hand-written baseline for `bench_repro.py`: the credit pipeline as one plain script.

It does the work of reprokit's prepare/features/train/evaluate stages on the same raw
Parquet file with pandas, Pandera, scikit-learn and LightGBM directly: no reprokit, Kedro or
DVC, no intermediate files. The constants mirror `conf/` (data/credit.yaml,
features/credit.yaml, split/stratified.yaml, model/lightgbm.yaml, engine/local.yaml); the
benchmark compares this script's metrics and model with reprokit's to show both do the
same work.

    python bench/baseline_pipeline.py RAW_PARQUET OUT_DIR [--num-threads 0]

Writes OUT_DIR/model.txt, OUT_DIR/metrics.json and OUT_DIR/timings.json (seconds per step).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pandera.pandas as pa
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split

# Run as `python bench/<script>.py`: this folder is first on sys.path.
from _steps import Timer

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

SEED = 42
TARGET = "default"
TEST_SIZE = 0.2
VALID_SIZE = 0.1
NUMERIC = [
    "age",
    "income",
    "employment_years",
    "loan_amount",
    "loan_term_months",
    "monthly_debt",
    "num_open_accounts",
    "num_late_payments",
]
CATEGORICAL = ["home_ownership", "purpose", "region"]
DERIVED = [
    "debt_to_income",
    "loan_to_income",
    "log_income",
    "application_month",
    "application_dayofweek",
]
FEATURES = [*NUMERIC, *CATEGORICAL, *DERIVED]
OTHER = "__other__"
MIN_CATEGORY_FREQUENCY = 0.001
THRESHOLD = 0.5
N_ESTIMATORS = 500
EARLY_STOPPING_ROUNDS = 50

SCHEMA = pa.DataFrameSchema(
    {
        "customer_id": pa.Column("int64", unique=True),
        "application_date": pa.Column("datetime64[ns]", coerce=True),
        "branch_id": pa.Column("int64", pa.Check.ge(0)),
        "age": pa.Column("float64", [pa.Check.ge(18), pa.Check.le(120)], nullable=True),
        "income": pa.Column("float64", pa.Check.gt(0), nullable=True),
        "employment_years": pa.Column("float64", [pa.Check.ge(0), pa.Check.le(80)], nullable=True),
        "loan_amount": pa.Column("float64", pa.Check.gt(0)),
        "loan_term_months": pa.Column("int64", pa.Check.isin([12, 24, 36, 48, 60])),
        "monthly_debt": pa.Column("float64", pa.Check.ge(0)),
        "num_open_accounts": pa.Column("int64", pa.Check.ge(0)),
        "num_late_payments": pa.Column("int64", pa.Check.ge(0)),
        "home_ownership": pa.Column("str"),
        "purpose": pa.Column("str"),
        "region": pa.Column("str"),
        TARGET: pa.Column("int64", pa.Check.isin([0, 1])),
    },
    strict=True,
)

# reprokit derives one seed per LightGBM random stream from `seed`; the same seeds here make
# both sides train the identical model, which the benchmark checks by hashing model.txt.
SEEDS = {
    "seed": 0,
    "bagging_seed": 1,
    "feature_fraction_seed": 2,
    "data_random_seed": 3,
    "extra_seed": 4,
    "drop_seed": 5,
    "objective_seed": 6,
}


def lightgbm_params(num_threads: int) -> dict[str, Any]:
    params: dict[str, Any] = {
        "objective": "binary",
        "metric": "binary_logloss",
        "num_leaves": 31,
        "learning_rate": 0.1,
        "max_depth": -1,
        "min_data_in_leaf": 20,
        "feature_fraction": 0.9,
        "bagging_fraction": 1.0,
        "bagging_freq": 0,
        "lambda_l1": 0.0,
        "lambda_l2": 0.0,
        # Bit-for-bit reproducible training needs one forced histogram layout.
        "deterministic": True,
        "force_row_wise": True,
        "force_col_wise": False,
        "num_threads": num_threads,
        "verbosity": -1,
    }
    params.update({name: SEED + offset for name, offset in SEEDS.items()})
    return params


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stratified train/valid/test, rows kept in file order (as reprokit's split node)."""
    labels = frame[TARGET].to_numpy()
    rest, test = train_test_split(
        np.arange(len(frame)), test_size=TEST_SIZE, random_state=SEED, stratify=labels
    )
    train, valid = train_test_split(
        rest,
        test_size=VALID_SIZE / (1.0 - TEST_SIZE),
        random_state=SEED,
        stratify=labels[rest],
    )
    return tuple(  # type: ignore[return-value]
        frame.iloc[np.sort(rows)].reset_index(drop=True) for rows in (train, valid, test)
    )


def fit_categories(train: pd.DataFrame) -> dict[str, list[str]]:
    """Sorted training values of each categorical column (rare ones folded), then OTHER."""
    categories: dict[str, list[str]] = {}
    for column in CATEGORICAL:
        counts = train[column].value_counts()
        kept = sorted(str(v) for v, n in counts.items() if n >= MIN_CATEGORY_FREQUENCY * len(train))
        categories[column] = [*kept, OTHER]
    return categories


def encode(values: pd.Series, categories: list[str]) -> FloatArray:
    """Category codes as floats: unseen or rare -> OTHER's code, missing -> NaN."""
    codes = pd.Categorical(values, categories=categories).codes.astype(np.float64)
    codes[codes < 0] = len(categories) - 1
    codes[values.isna().to_numpy()] = np.nan
    return codes


def ratio(numerator: pd.Series, denominator: pd.Series) -> FloatArray:
    top, bottom = numerator.to_numpy(np.float64), denominator.to_numpy(np.float64)
    out = np.full(len(top), np.nan)
    np.divide(top, bottom, out=out, where=np.isfinite(bottom) & (bottom != 0))
    return out


def features(frame: pd.DataFrame, categories: dict[str, list[str]]) -> FloatArray:
    """The model matrix in FEATURES order, C-contiguous float64 (what LightGBM copies least)."""
    income = frame["income"].to_numpy(np.float64)
    dates = frame["application_date"].dt
    columns = [frame[column].to_numpy(np.float64) for column in NUMERIC]
    columns += [encode(frame[column], categories[column]) for column in CATEGORICAL]
    columns += [
        ratio(frame["monthly_debt"], frame["income"]),
        ratio(frame["loan_amount"], frame["income"]),
        np.log1p(np.where(income >= 0, income, np.nan)),
        dates.month.to_numpy(np.float64),
        dates.day_of_week.to_numpy(np.float64),
    ]
    return np.column_stack(columns)


def train(
    train_x: FloatArray, train_y: FloatArray, valid_x: FloatArray, valid_y: FloatArray, threads: int
) -> lgb.Booster:
    train_set = lgb.Dataset(
        train_x, label=train_y, feature_name=FEATURES, categorical_feature=CATEGORICAL
    )
    valid_set = lgb.Dataset(valid_x, label=valid_y, reference=train_set)
    return lgb.train(
        lightgbm_params(threads),
        train_set,
        num_boost_round=N_ESTIMATORS,
        valid_sets=[valid_set],
        valid_names=["valid"],
        callbacks=[
            lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)
        ],
    )


def evaluate(booster: lgb.Booster, test_x: FloatArray, test_y: FloatArray) -> dict[str, float]:
    scores = np.asarray(booster.predict(test_x, num_iteration=booster.best_iteration))
    labels = test_y.astype(np.int64)
    predicted = (scores >= THRESHOLD).astype(np.int64)
    return {
        "roc_auc": round(float(skm.roc_auc_score(labels, scores)), 6),
        "log_loss": round(float(skm.log_loss(labels, scores, labels=[0, 1])), 6),
        "f1": round(float(skm.f1_score(labels, predicted, zero_division=0)), 6),
        "n_test": len(labels),
    }


def run(raw_path: Path, out_dir: Path, num_threads: int) -> dict[str, float]:
    timer = Timer()
    with timer.step("read"):
        raw = pd.read_parquet(raw_path)
    with timer.step("validate"):
        frame = SCHEMA.validate(raw, lazy=True)
    with timer.step("split"):
        train_df, valid_df, test_df = split(frame)
    with timer.step("features"):
        categories = fit_categories(train_df)
        matrices = [features(part, categories) for part in (train_df, valid_df, test_df)]
        labels = [part[TARGET].to_numpy(np.float64) for part in (train_df, valid_df, test_df)]
    with timer.step("train"):
        booster = train(matrices[0], labels[0], matrices[1], labels[1], num_threads)
    with timer.step("evaluate"):
        metrics = evaluate(booster, matrices[2], labels[2])
    with timer.step("write"):
        out_dir.mkdir(parents=True, exist_ok=True)
        booster.save_model(out_dir / "model.txt", num_iteration=booster.best_iteration)
        write_json(out_dir / "metrics.json", metrics)
    write_json(out_dir / "timings.json", timer.seconds)
    return metrics


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("raw", type=Path, help="the raw credit Parquet file")
    parser.add_argument("out_dir", type=Path, help="where model.txt and metrics.json go")
    # The model file records num_threads; 0 (engine.num_threads) keeps it equal to reprokit's.
    parser.add_argument("--num-threads", type=int, default=0, help="LightGBM threads (0: all)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.raw, args.out_dir, args.num_threads)))


if __name__ == "__main__":
    main()
