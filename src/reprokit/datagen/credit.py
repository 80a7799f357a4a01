"""Deterministic synthetic credit-risk table: the demo's default data source.

Rows are generated in fixed blocks of `BLOCK_ROWS`, block ``b`` from its own stream
``np.random.default_rng([seed, b])``, and every block is always generated whole. A row therefore
depends only on ``(seed, row index)``: a smaller table is exactly a prefix of a larger one, and
the chunk size a writer uses cannot change the data.

The data-generating process (the "world": branch sizes, branch effects, coefficients) is fixed;
the seed only draws a different sample from it. Any change to the order or kind of random draws
below changes every generated dataset, so treat such a change as a new data version.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

BLOCK_ROWS = 100_000
FIRST_CUSTOMER_ID = 1_000_000

# Dates must depend on the row index alone (prefix property), so they cannot be spread over
# "the whole table". Instead every run of ROWS_PER_WINDOW consecutive rows sweeps the window
# once: the demo's 10,000 rows are increasing in time over 2023-2024; larger tables repeat the
# sweep, so every date still lies in the window.
ROWS_PER_WINDOW = 10_000
WINDOW_START = np.datetime64("2023-01-01", "D")
WINDOW_DAYS = 731  # 2023-01-01 .. 2024-12-31 inclusive (2024 is a leap year).
DATE_JITTER_DAYS = 10.0

N_BRANCHES = 200
HOME_OWNERSHIP = ("RENT", "OWN", "MORTGAGE", "OTHER")
PURPOSES = (
    "debt_consolidation",
    "credit_card",
    "home_improvement",
    "car",
    "medical",
    "small_business",
    "other",
)
PURPOSE_PROBS = (0.36, 0.21, 0.10, 0.12, 0.06, 0.05, 0.10)
REGIONS = ("NORTH", "SOUTH", "EAST", "WEST", "CENTRAL", "COASTAL", "MOUNTAIN", "ISLANDS")
LOAN_TERMS = (12, 24, 36, 48, 60)
LOAN_TERM_PROBS = (0.12, 0.20, 0.33, 0.15, 0.20)

MISSING_RATE = {"age": 0.02, "income": 0.05, "employment_years": 0.03}
LABEL_NOISE = 0.05

# Emitted columns and their pandas dtypes, in order.
SCHEMA: dict[str, str] = {
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
    "home_ownership": "str",
    "purpose": "str",
    "region": "str",
    "default": "int64",
}

# Fixed seed of the world constants; deliberately independent of the user's seed.
_WORLD_SEED = 20230101
# Effects of the categories on the default log-odds, aligned with PURPOSES / HOME_OWNERSHIP.
_PURPOSE_EFFECT = np.array([0.30, 0.15, -0.25, -0.45, 0.60, 1.10, 0.05])
_PURPOSE_LOAN_SHIFT = np.array([0.10, -0.20, 0.35, 0.05, -0.50, 0.55, -0.30])
_HOME_EFFECT = np.array([0.35, -0.45, -0.15, 0.50])
_REGION_EFFECT = np.array([0.00, 0.10, -0.05, 0.05, -0.10, 0.00, 0.15, 0.30])
# Calibrated so that ~13.5% default before label noise and ~17% after it.
_INTERCEPT = -4.8
_ANNUAL_RATE = 0.09


@dataclass(frozen=True)
class _World:
    """Constants of the data-generating process shared by every block and every seed."""

    branch_probs: FloatArray
    branch_effect: FloatArray
    branch_region: IntArray


@functools.cache
def _world() -> _World:
    """Build the world constants once, on first use (never at import time)."""
    rng = np.random.default_rng(_WORLD_SEED)
    # Zipf-like branch sizes: a few big city branches, a long tail of small ones.
    weights = 1.0 / np.arange(1, N_BRANCHES + 1) ** 0.9
    probs = weights / weights.sum()
    effect = rng.normal(0.0, 0.35, N_BRANCHES)
    region = rng.choice(len(REGIONS) - 1, size=N_BRANCHES).astype(np.int64)
    # The last region is made rare by giving it only the three smallest branches (~0.3% rows).
    region[-3:] = len(REGIONS) - 1
    for array in (probs, effect, region):
        array.flags.writeable = False  # shared through the cache: must not be mutated
    return _World(branch_probs=probs, branch_effect=effect, branch_region=region)


def _sigmoid(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def _sample_categorical(probs: FloatArray, rng: np.random.Generator) -> IntArray:
    """Draw one category index per row from a (rows, categories) probability matrix."""
    cumulative = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cumulative[:, -1]
    codes: IntArray = (u[:, None] > cumulative).sum(axis=1).astype(np.int64)
    return codes


def _application_day(row: IntArray, rng: np.random.Generator) -> IntArray:
    """Day offset from WINDOW_START: increasing with the row index, plus jitter."""
    position = (row % ROWS_PER_WINDOW + rng.random(row.size)) / ROWS_PER_WINDOW
    day = position * WINDOW_DAYS + rng.normal(0.0, DATE_JITTER_DAYS, row.size)
    return np.clip(np.floor(day), 0, WINDOW_DAYS - 1).astype(np.int64)


def _to_datetime_ns(day: IntArray) -> npt.NDArray[np.datetime64]:
    return (WINDOW_START + day.astype("timedelta64[D]")).astype("datetime64[ns]")


def _month(day: IntArray) -> IntArray:
    months = (WINDOW_START + day.astype("timedelta64[D]")).astype("datetime64[M]")
    return (months.astype(np.int64) % 12 + 1).astype(np.int64)


def _age(rng: np.random.Generator, n: int) -> FloatArray:
    """Whole years in 18..89, right-skewed like a population of borrowers."""
    return np.floor(18.0 + 72.0 * rng.beta(2.0, 3.6, n))


def _employment_years(age: FloatArray, rng: np.random.Generator) -> FloatArray:
    years: FloatArray = np.minimum(rng.gamma(1.6, 4.5, age.size), age - 18.0)
    years[rng.random(age.size) < 0.06] = 0.0  # unemployed
    return np.round(years, 1)


def _income(
    age: FloatArray, employment: FloatArray, stress: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """Annual income: lognormal, peaking in mid-career, lower for financially stressed people."""
    log_income = (
        10.55
        + 0.022 * np.minimum(employment, 20.0)
        - 0.0005 * (age - 48.0) ** 2
        - 0.10 * stress
        + rng.normal(0.0, 0.45, age.size)
    )
    return np.maximum(np.round(np.exp(log_income), -1), 6_000.0)


def _home_ownership(age: FloatArray, rng: np.random.Generator) -> IntArray:
    years = age - 18.0
    logits = np.column_stack(
        [
            1.2 - 0.05 * years,  # RENT: the young
            -1.6 + 0.035 * years,  # OWN: the old
            0.3 + 0.04 * years - 0.0008 * years**2,  # MORTGAGE: mid-life
            np.full(age.size, -2.6),  # OTHER
        ]
    )
    probs = np.exp(logits)
    return _sample_categorical(probs, rng)


def _loan_amount(income: FloatArray, purpose: IntArray, rng: np.random.Generator) -> FloatArray:
    """Loan size as a lognormal fraction of income, shifted by purpose."""
    log_ratio = np.log(0.22) + _PURPOSE_LOAN_SHIFT[purpose] + rng.normal(0.0, 0.55, income.size)
    amount: FloatArray = np.clip(np.round(income * np.exp(log_ratio) / 50.0) * 50.0, 1e3, 5e5)
    return amount


def _loan_term(loan_to_income: FloatArray, rng: np.random.Generator) -> IntArray:
    """Term in months; bigger loans (relative to income) tend to be stretched over longer terms."""
    index = rng.choice(len(LOAN_TERMS), size=loan_to_income.size, p=LOAN_TERM_PROBS)
    stretch = rng.random(loan_to_income.size) < np.clip((loan_to_income - 0.25) * 1.2, 0.0, 0.8)
    index = np.minimum(index + stretch, len(LOAN_TERMS) - 1)
    return np.asarray(LOAN_TERMS, dtype=np.int64)[index]


def _monthly_debt(income: FloatArray, stress: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Existing monthly debt payments, so that debt-to-income is a meaningful feature."""
    debt = income / 12.0 * rng.beta(2.2, 7.0, income.size) * np.exp(0.25 * stress)
    debt[rng.random(income.size) < 0.08] = 0.0  # no other debt
    return np.round(debt, 2)


def _open_accounts(age: FloatArray, income: FloatArray, rng: np.random.Generator) -> IntArray:
    rate = np.exp(0.9 + 0.012 * (age - 18.0) + 0.15 * np.log(income / 50_000.0))
    return rng.poisson(rate).astype(np.int64)


def _late_payments(stress: FloatArray, rng: np.random.Generator) -> IntArray:
    """Negative binomial: mostly zero with a heavy tail, driven by the latent stress."""
    mean = 0.45 * np.exp(0.8 * stress)
    dispersion = 0.5
    return rng.negative_binomial(dispersion, dispersion / (dispersion + mean)).astype(np.int64)


def _installment(loan_amount: FloatArray, term: IntArray) -> FloatArray:
    """Monthly payment of an amortised loan at a fixed annual rate."""
    rate = _ANNUAL_RATE / 12.0
    return loan_amount * rate / (1.0 - (1.0 + rate) ** -term.astype(np.float64))


@dataclass(frozen=True)
class _Signal:
    """True (never missing) applicant values that drive the default probability."""

    age: FloatArray
    income: FloatArray
    employment: FloatArray
    income_missing: BoolArray
    loan_amount: FloatArray
    term: IntArray
    monthly_debt: FloatArray
    late: IntArray
    purpose: IntArray
    home: IntArray
    region: IntArray
    branch: IntArray
    day: IntArray
    stress: FloatArray


def _default_logit(s: _Signal, branch_effect: FloatArray) -> FloatArray:
    """Nonlinear log-odds of default.

    Computed from the true values, not the emitted ones: a missing income is a reporting gap,
    not an absence of income, so there is nothing to impute and NaN cannot reach the signal.
    """
    monthly_income = s.income / 12.0
    dti = (s.monthly_debt + _installment(s.loan_amount, s.term)) / monthly_income
    loan_to_income = s.loan_amount / s.income
    long_term = (s.term >= 48).astype(np.float64)
    logit: FloatArray = (
        _INTERCEPT
        + 2.8 * _sigmoid((dti - 0.45) / 0.03)  # underwriting threshold on debt-to-income
        + 1.0 * dti
        + 2.6 * (1.0 - np.exp(-s.late / 1.2))  # late payments saturate
        + 0.0013 * (s.age - 47.0) ** 2  # U-shape in age
        - 0.8 * (1.0 - np.exp(-s.employment / 2.5))
        - 0.5 * (np.log(s.income) - 10.7)
        + 1.5 * long_term * np.clip((loan_to_income - 0.3) / 0.4, 0.0, 1.5)  # interaction
        + 0.45 * np.cos(2.0 * np.pi * (_month(s.day) - 1) / 12.0)  # winter applications riskier
        + 0.3 * s.day / WINDOW_DAYS  # slow drift: later applications riskier
        + 0.25 * s.income_missing  # not stating income is itself a warning sign
        + _PURPOSE_EFFECT[s.purpose]
        + _HOME_EFFECT[s.home]
        + _REGION_EFFECT[s.region]
        + branch_effect[s.branch]
        + 0.3 * s.stress  # latent, never emitted: bounds the achievable AUC
    )
    return logit


def _with_missing(values: FloatArray, mask: BoolArray) -> FloatArray:
    return np.where(mask, np.nan, values)


def _labels(choices: tuple[str, ...], codes: IntArray) -> pd.Series:
    # Via Categorical: several times faster than building strings from an object array.
    # pandas-stubs 2.3 types `codes` as a Sequence[int]; pandas takes an int array as is.
    categorical = pd.Categorical.from_codes(codes, pd.Index(choices))  # type: ignore[arg-type]
    return pd.Series(categorical.astype("str"))


def _generate_block(seed: int, block_index: int) -> pd.DataFrame:
    """All BLOCK_ROWS rows of one block; the draw order below defines the data."""
    rng = np.random.default_rng([seed, block_index])
    world = _world()
    n = BLOCK_ROWS
    first_row = block_index * BLOCK_ROWS
    row = np.arange(first_row, first_row + n, dtype=np.int64)

    day = _application_day(row, rng)
    branch = rng.choice(N_BRANCHES, size=n, p=world.branch_probs).astype(np.int64)
    region = world.branch_region[branch]
    stress = rng.standard_normal(n)
    age = _age(rng, n)
    employment = _employment_years(age, rng)
    income = _income(age, employment, stress, rng)
    home = _home_ownership(age, rng)
    purpose = rng.choice(len(PURPOSES), size=n, p=PURPOSE_PROBS).astype(np.int64)
    loan_amount = _loan_amount(income, purpose, rng)
    term = _loan_term(loan_amount / income, rng)
    monthly_debt = _monthly_debt(income, stress, rng)
    open_accounts = _open_accounts(age, income, rng)
    late = _late_payments(stress, rng)
    missing = {column: rng.random(n) < rate for column, rate in MISSING_RATE.items()}

    signal = _Signal(
        age=age,
        income=income,
        employment=employment,
        income_missing=missing["income"],
        loan_amount=loan_amount,
        term=term,
        monthly_debt=monthly_debt,
        late=late,
        purpose=purpose,
        home=home,
        region=region,
        branch=branch,
        day=day,
        stress=stress,
    )
    defaulted = rng.random(n) < _sigmoid(_default_logit(signal, world.branch_effect))
    flipped = rng.random(n) < LABEL_NOISE

    frame = pd.DataFrame(
        {
            "customer_id": row + FIRST_CUSTOMER_ID,
            "application_date": _to_datetime_ns(day),
            "branch_id": branch,
            "age": _with_missing(age, missing["age"]),
            "income": _with_missing(income, missing["income"]),
            "employment_years": _with_missing(employment, missing["employment_years"]),
            "loan_amount": loan_amount,
            "loan_term_months": term,
            "monthly_debt": monthly_debt,
            "num_open_accounts": open_accounts,
            "num_late_payments": late,
            "home_ownership": _labels(HOME_OWNERSHIP, home),
            "purpose": _labels(PURPOSES, purpose),
            "region": _labels(REGIONS, region),
            "default": (defaulted ^ flipped).astype(np.int64),
        }
    )
    frame.index = pd.RangeIndex(first_row, first_row + n)
    return frame


def _check_non_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def empty_credit_frame() -> pd.DataFrame:
    """A zero-row credit table with the right columns and dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in SCHEMA.items()})


def iter_credit_blocks(start_row: int, stop_row: int, seed: int) -> Iterator[pd.DataFrame]:
    """Yield rows ``start_row .. stop_row - 1`` as (slices of) whole generated blocks.

    Memory is bounded by one block; the index of each frame is the global row index.
    """
    _check_non_negative(start_row=start_row, stop_row=stop_row, seed=seed)
    for block_index in range(start_row // BLOCK_ROWS, -(-stop_row // BLOCK_ROWS)):
        block = _generate_block(seed, block_index)
        first_row = block_index * BLOCK_ROWS
        lo = max(start_row - first_row, 0)
        hi = min(stop_row - first_row, BLOCK_ROWS)
        yield block if (lo, hi) == (0, BLOCK_ROWS) else block.iloc[lo:hi]


def generate_credit_chunk(start_row: int, n_rows: int, seed: int) -> pd.DataFrame:
    """Rows ``start_row .. start_row + n_rows - 1`` of the credit table for ``seed``.

    Args:
        start_row: Global index of the first row (>= 0).
        n_rows: Number of rows (>= 0).
        seed: Non-negative seed; the same seed always gives the same rows.

    Returns:
        The rows, indexed by their global row index.
    """
    _check_non_negative(start_row=start_row, n_rows=n_rows, seed=seed)
    parts = list(iter_credit_blocks(start_row, start_row + n_rows, seed))
    if not parts:
        return empty_credit_frame()
    return parts[0] if len(parts) == 1 else pd.concat(parts)


def generate_credit(rows: int, seed: int) -> pd.DataFrame:
    """The first ``rows`` rows of the synthetic credit table for ``seed``.

    ``generate_credit(n, s)`` is exactly ``generate_credit(m, s).iloc[:n]`` for any ``m > n``.
    """
    return generate_credit_chunk(0, rows, seed)


# --- demo drift (monitoring) ----------------------------------------------------------------


@dataclass(frozen=True)
class CreditDrift:
    """How a drifted batch differs from the training world (`reprokit data generate --drift`).

    Applied to generated rows, so the stable columns keep exactly their training
    distribution: incomes fall, loans grow, a purpose never seen in training appears, and
    the link between the applicant and the default weakens (a share of the labels is
    redrawn at the base rate, independently of the features: visible only with labels).
    """

    income_scale: float = 0.7
    loan_scale: float = 1.5
    new_purpose: str = "buy_now_pay_later"
    new_purpose_share: float = 0.15
    relabel_share: float = 0.5
    relabel_rate: float = 0.17


# Its own random stream, keyed by (seed, block): a drifted row depends only on (seed, row).
_DRIFT_STREAM = 0x0D21F7


def drift_credit(
    frame: pd.DataFrame, seed: int, drift: CreditDrift = CreditDrift()
) -> pd.DataFrame:
    """A drifted copy of generated credit rows (`frame` indexed by global row index)."""
    rows = frame.index.to_numpy(dtype=np.int64)
    u_purpose = np.empty(len(frame))
    u_label = np.empty(len(frame))
    u_draw = np.empty(len(frame))
    for block in np.unique(rows // BLOCK_ROWS):
        rng = np.random.default_rng([seed, _DRIFT_STREAM, int(block)])
        draws = rng.random((3, BLOCK_ROWS))
        mask = rows // BLOCK_ROWS == block
        offsets = rows[mask] - block * BLOCK_ROWS
        u_purpose[mask], u_label[mask], u_draw[mask] = draws[:, offsets]
    drifted = frame.copy()
    drifted["income"] = np.round(frame["income"] * drift.income_scale, -1)
    drifted["loan_amount"] = np.clip(
        np.round(frame["loan_amount"] * drift.loan_scale / 50.0) * 50.0, 1e3, 5e5
    )
    drifted.loc[u_purpose < drift.new_purpose_share, "purpose"] = drift.new_purpose
    relabel = u_label < drift.relabel_share
    drifted.loc[relabel, "default"] = (u_draw[relabel] < drift.relabel_rate).astype(np.int64)
    return drifted
