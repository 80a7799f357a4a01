from __future__ import annotations

import math

import numpy as np
import pytest

from reprokit.core.environment import (
    byte_environment,
    cpu_model,
    describe_changes,
    environment_changes,
    environment_hash,
    recorded_environment,
)
from reprokit.nodes.portable_math import log1p


def test_log1p_is_libms_scalar_result_for_every_regular_value() -> None:
    values = np.random.default_rng(3).lognormal(8.0, 3.0, 5000)
    expected = np.array([math.log1p(v) for v in values])
    assert np.array_equal(log1p(values), expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(np.nan, np.nan), (np.inf, np.inf), (-1.0, -np.inf), (-2.0, np.nan), (-np.inf, np.nan)],
)
def test_log1p_special_values_follow_numpy(value: float, expected: float) -> None:
    with np.errstate(all="ignore"):
        assert np.array_equal(log1p([value]), np.log1p([value]), equal_nan=True)
    assert np.array_equal(log1p([value]), [expected], equal_nan=True)


def test_log1p_keeps_the_shape_and_works_across_batches() -> None:
    values = np.arange(600_000, dtype=np.float64).reshape(2, -1)
    result = log1p(values)
    assert result.shape == values.shape
    assert result[1, -1] == math.log1p(599_999.0)


def test_cpu_model_reads_the_model_name_line() -> None:
    cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654\n"
    assert cpu_model(cpuinfo) == "AMD EPYC 9654"


def test_the_environment_names_the_simd_level_and_versions() -> None:
    facts = byte_environment()
    assert facts["simd_base"]
    assert facts["numpy"] == np.__version__
    assert facts["hash"] == environment_hash(facts)


def test_changes_name_each_differing_fact_but_not_the_hash() -> None:
    recorded = {"cpu": "A", "simd": "X86_V3", "hash": "1"}
    current = {"cpu": "A", "simd": "X86_V3 X86_V4", "blas": "x", "hash": "2"}
    changes = environment_changes(recorded, current)
    assert changes == [("blas", None, "x"), ("simd", "X86_V3", "X86_V3 X86_V4")]
    assert describe_changes(changes) == "blas: (not recorded) -> x; simd: X86_V3 -> X86_V3 X86_V4"


def test_recorded_environment_reads_env_tags_only() -> None:
    tags = {"rk.env.cpu": "A", "rk.env.hash": "h", "rk.fingerprint": "f"}
    assert recorded_environment(tags) == {"cpu": "A", "hash": "h"}
