"""Transcendental kernels whose bytes do not depend on the CPU numpy dispatches to.

numpy sends float64 `log1p` (and `exp`, `log`, `expm1`, ...) to SIMD kernels chosen at run
time: on a CPU with AVX-512 (numpy's X86_V4 / AVX512_SKX targets) `np.log1p` uses Intel's
SVML, which differs from the scalar libm result by 1 ulp in about 1% of values; on AVX2
machines and aarch64 numpy calls libm. A feature computed with `np.log1p` therefore had
different bytes on different machines (the committed dvc.lock did not reproduce on an
AVX-512 server), and a served prediction could differ from the training run's by a split.

Why a kernel here rather than pinning numpy's dispatch (NPY_DISABLE_CPU_FEATURES): the
variable works only if set before numpy is imported, which reprokit cannot guarantee in
`bentoml serve`, `kedro run`, a notebook or a Dask worker; the feature code is shared by
training and serving, so making *it* dispatch-independent fixes every entry point at once.
The scalar libm path is the one numpy itself takes below AVX-512, so outputs keep the
bytes they had on AVX2 machines. Cost: ~0.08 s per million values (bench/bench_portable_math.py).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Float64Array = npt.NDArray[np.float64]

# Values per batch handed to libm: bounds the transient list of Python floats.
_BATCH = 1 << 18


def log1p(values: npt.ArrayLike) -> Float64Array:
    """`log(1 + x)` elementwise with libm's scalar `log1p`, identical on every CPU level.

    Special values follow numpy: NaN stays NaN, +inf stays +inf, -1 gives -inf and values
    below -1 give NaN (without a floating-point warning).
    """
    x = np.asarray(values, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    regular = np.isfinite(x) & (x > -1.0)
    source = x[regular]
    result = np.empty(source.size)
    for start in range(0, source.size, _BATCH):
        chunk = source[start : start + _BATCH]
        result[start : start + chunk.size] = np.fromiter(
            map(math.log1p, chunk.tolist()), dtype=np.float64, count=chunk.size
        )
    out[regular] = result
    out[x == np.inf] = np.inf
    out[x == -1.0] = -np.inf
    return out
