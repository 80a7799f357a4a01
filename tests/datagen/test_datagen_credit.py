"""The synthetic credit table: determinism, the prefix property, schema, ranges and signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reprokit.datagen.credit import BLOCK_ROWS, generate_credit, generate_credit_chunk
from reprokit.datagen.writer import credit_chunks

# The dtype pandas gives text: "str" on pandas 3, object on 2.x.
TEXT = str(pd.Series(["text"]).dtype)
EXPECTED_DTYPES = {
    "customer_id": "int64",
    "application_date": "datetime64[ns]",
    "branch_id": "int64",
    "age": "float64",
    "income": "float64",
    "employment_years": "float64",
    "loan_amount": "float64",
    "loan_term_months": "int64",
    "monthly_debt": "float64",
    "num_open_accounts": "int64",
    "num_late_payments": "int64",
    "home_ownership": TEXT,
    "purpose": TEXT,
    "region": TEXT,
    "default": "int64",
}
NULLABLE = {"age", "income", "employment_years"}


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    """The demo's table: 10,000 rows, seed 7."""
    return generate_credit(10_000, 7)


@pytest.fixture(scope="module")
def two_blocks() -> pd.DataFrame:
    """A table that spans a block boundary."""
    return generate_credit(BLOCK_ROWS + 10_000, 7)


def test_same_seed_gives_equal_frames() -> None:
    pd.testing.assert_frame_equal(generate_credit(2_000, 7), generate_credit(2_000, 7))


def test_different_seed_gives_different_data(credit: pd.DataFrame) -> None:
    other = generate_credit(10_000, 8)
    assert not other["income"].equals(credit["income"])
    assert not other["default"].equals(credit["default"])
    # Row identity does not depend on the seed.
    assert other["customer_id"].equals(credit["customer_id"])


def test_smaller_table_is_prefix_of_larger(credit: pd.DataFrame, two_blocks: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(generate_credit(1_234, 7), credit.iloc[:1_234])
    pd.testing.assert_frame_equal(credit, two_blocks.iloc[:10_000])


def test_chunk_across_block_boundary_equals_slice(two_blocks: pd.DataFrame) -> None:
    start = BLOCK_ROWS - 10
    chunk = generate_credit_chunk(start, 25, 7)
    pd.testing.assert_frame_equal(chunk, two_blocks.iloc[start : start + 25])
    # Indexed by the global row index, so chunks concatenate into the table.
    assert chunk.index[0] == start


@pytest.mark.parametrize("chunk_rows", [3_001, 50_000, BLOCK_ROWS, 250_000])
def test_chunking_does_not_change_the_table(two_blocks: pd.DataFrame, chunk_rows: int) -> None:
    chunks = list(credit_chunks(len(two_blocks), 7, chunk_rows=chunk_rows))
    assert all(len(chunk) <= chunk_rows for chunk in chunks)
    assert all(len(chunk) == chunk_rows for chunk in chunks[:-1])
    pd.testing.assert_frame_equal(pd.concat(chunks), two_blocks)


def test_columns_and_dtypes(credit: pd.DataFrame) -> None:
    assert {name: str(dtype) for name, dtype in credit.dtypes.items()} == EXPECTED_DTYPES
    assert list(credit.columns) == list(EXPECTED_DTYPES)


def test_empty_table_keeps_the_schema() -> None:
    empty = generate_credit(0, 7)
    assert len(empty) == 0
    assert {name: str(dtype) for name, dtype in empty.dtypes.items()} == EXPECTED_DTYPES


def test_only_documented_columns_have_missing_values(credit: pd.DataFrame) -> None:
    missing = credit.isna().mean()
    assert set(missing[missing > 0].index) == NULLABLE
    assert 0.01 <= missing["age"] <= 0.03
    assert 0.04 <= missing["income"] <= 0.06
    assert 0.02 <= missing["employment_years"] <= 0.04


def test_customer_ids_are_unique_row_numbers(two_blocks: pd.DataFrame) -> None:
    ids = two_blocks["customer_id"]
    assert ids.is_unique
    assert (ids.to_numpy() == np.arange(len(two_blocks)) + 1_000_000).all()


def test_application_dates_span_the_window_increasing_with_jitter(credit: pd.DataFrame) -> None:
    dates = credit["application_date"]
    assert dates.min() >= pd.Timestamp("2023-01-01")
    assert dates.max() <= pd.Timestamp("2024-12-31")
    assert (dates.max() - dates.min()).days > 700
    correlation = np.corrcoef(credit["customer_id"], dates.astype("int64"))[0, 1]
    assert correlation > 0.99
    assert not dates.is_monotonic_increasing  # jitter


def test_numeric_ranges(credit: pd.DataFrame) -> None:
    assert credit["branch_id"].between(0, 199).all()
    assert credit["age"].dropna().between(18, 90).all()
    assert (credit["income"].dropna() > 0).all()
    assert (credit["employment_years"].dropna() >= 0).all()
    assert (credit["loan_amount"] > 0).all()
    assert set(credit["loan_term_months"]) == {12, 24, 36, 48, 60}
    assert (credit["monthly_debt"] >= 0).all()
    assert (credit["num_open_accounts"] >= 0).all()
    assert (credit["num_late_payments"] >= 0).all()


def test_branch_sizes_are_skewed(credit: pd.DataFrame) -> None:
    sizes = credit["branch_id"].value_counts()
    assert sizes.max() > 5 * sizes.median()


def test_loan_amount_is_correlated_with_income(credit: pd.DataFrame) -> None:
    known = credit.dropna(subset=["income"])
    correlation = np.corrcoef(np.log(known["loan_amount"]), np.log(known["income"]))[0, 1]
    assert correlation > 0.3


def test_late_payments_are_mostly_zero_with_a_heavy_tail(credit: pd.DataFrame) -> None:
    late = credit["num_late_payments"]
    assert (late == 0).mean() > 0.6
    assert late.max() >= 8


def test_categorical_values(credit: pd.DataFrame) -> None:
    assert set(credit["home_ownership"]) == {"RENT", "OWN", "MORTGAGE", "OTHER"}
    assert set(credit["purpose"]) == {
        "debt_consolidation",
        "credit_card",
        "home_improvement",
        "car",
        "medical",
        "small_business",
        "other",
    }
    regions = credit["region"].value_counts(normalize=True)
    assert len(regions) == 8
    assert regions.min() < 0.01  # one rare region


def test_default_rate_and_signal(credit: pd.DataFrame) -> None:
    default = credit["default"]
    assert set(default) == {0, 1}
    assert 0.15 <= default.mean() <= 0.20
    # The signal is there: clearly riskier with late payments, and with small-business loans.
    late = credit["num_late_payments"]
    assert default[late >= 2].mean() > default[late == 0].mean() + 0.10
    by_purpose = credit.groupby("purpose")["default"].mean()
    assert by_purpose["small_business"] > by_purpose["car"] + 0.05


@pytest.mark.parametrize(("start_row", "n_rows", "seed"), [(-1, 10, 7), (0, -1, 7), (0, 10, -7)])
def test_negative_arguments_are_rejected(start_row: int, n_rows: int, seed: int) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        generate_credit_chunk(start_row, n_rows, seed)
