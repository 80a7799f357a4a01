"""What CPU-independent feature bytes cost: reprokit's libm `log1p` vs numpy's dispatched one.

Baseline: `np.log1p`, measured in the same process on the same values (on an AVX-512 CPU
that is Intel SVML, the fastest kernel there is and the one whose bytes differ by CPU).
Measured: the kernel alone at N values, and the whole `transform_features` node on the
bundled credit table at N rows, once with reprokit's kernel and once with numpy's swapped
in, so the ratio is the cost a user sees in the features stage (and in a serving request).

    python bench/bench_portable_math.py [--rows 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import Sample, credit_features, ratio

from reprokit.core.environment import byte_environment
from reprokit.nodes import features, portable_math


def timed(work: Callable[[], object], repeats: int) -> Sample:
    sample = Sample()
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        sample.add(time.perf_counter() - started)
    return sample


def transform_samples(rows: int, repeats: int) -> dict[str, Sample]:
    _, frame, state = credit_features(rows)
    samples = {"portable": timed(lambda: features.transform_features(frame, state), repeats)}
    original = portable_math.log1p
    portable_math.log1p = np.log1p  # type: ignore[assignment]
    try:
        samples["numpy"] = timed(lambda: features.transform_features(frame, state), repeats)
    finally:
        portable_math.log1p = original
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    values = np.random.default_rng(0).lognormal(10.5, 0.6, args.rows)
    kernel = {
        "numpy": timed(lambda: np.log1p(values), args.repeats),
        "portable": timed(lambda: portable_math.log1p(values), args.repeats),
    }
    transform = transform_samples(args.rows, args.repeats)
    environment = byte_environment()
    report: dict[str, Any] = {
        "rows": args.rows,
        "numpy_simd_dispatch": environment["numpy_simd_dispatch"],
        "cpu": environment["cpu"],
        "kernel_s": {name: sample.as_json() for name, sample in kernel.items()},
        "kernel_ratio_portable_vs_numpy": ratio(kernel["portable"], kernel["numpy"]),
        "transform_s": {name: sample.as_json() for name, sample in transform.items()},
        "transform_ratio_portable_vs_numpy": ratio(transform["portable"], transform["numpy"]),
        "extra_seconds_per_million_rows": (transform["portable"].min - transform["numpy"].min)
        * 1_000_000
        / args.rows,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
