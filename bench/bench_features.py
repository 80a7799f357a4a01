"""Feature computation speed: `transform_features` / `transform_matrix` today vs before the
fast paths (bench/features_before.py, the old column code), measured in the same run.

    python bench/bench_features.py [--rows 1000000] [--repeats 3] [--requests 2000]

- `rows`: `transform_features` on the bundled credit table at N rows (the features stage's
  work per split), old and new alternated; checks the two outputs' Parquet bytes are equal.
- `1-row`: `transform_matrix` on a fresh 1-row frame as the service builds it
  (`validate_records` of one record, built untimed before each call), per call, and
  `transform_features` on the same frame; checks the matrices are equal bit for bit.

Prints ratios (old / new: the speed-up) with the 1-minute load average of each run (the
machine is shared: the ratio, not the absolute figure, is the result).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import features_before as before
from bench._common import Sample, credit_features, ratio

from reprokit.nodes import features
from reprokit.schemas.build import request_schema_spec
from reprokit.serving.request import validate_records


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def table_cell(frame: pd.DataFrame, state: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Whole-table transform, old and new alternated (load drifts between runs)."""
    samples = {"before": Sample(), "now": Sample()}
    for _ in range(repeats):
        for name, transform in (
            ("before", before.transform_features),
            ("now", features.transform_features),
        ):
            started = time.perf_counter()
            transform(frame, state)
            samples[name].add(time.perf_counter() - started)
    same = parquet_bytes(before.transform_features(frame, state)) == parquet_bytes(
        features.transform_features(frame, state)
    )
    return {
        "seconds": {name: sample.as_json() for name, sample in samples.items()},
        "speedup": ratio(samples["before"], samples["now"]),
        "parquet_bytes_equal": same,
    }


def per_call(
    call: Callable[[pd.DataFrame], object], fresh: Callable[[], pd.DataFrame], n: int
) -> list[float]:
    """Seconds per call on `n` fresh frames (each built untimed: pandas caches columns)."""
    frames = [fresh() for _ in range(n)]
    seconds: list[float] = []
    for frame in frames:
        started = time.perf_counter()
        call(frame)
        seconds.append(time.perf_counter() - started)
    return seconds


def request_cell(
    params: Mapping[str, Any], frame: pd.DataFrame, state: dict[str, Any], requests: int
) -> dict[str, Any]:
    """A 1-row serving request's features, on the frame the service validates."""
    data = params["data"]
    spec = request_schema_spec(data["schema"], data["target"])
    record = json.loads(
        frame.head(1).drop(columns=[data["target"]]).to_json(orient="records", date_format="iso")
    )

    def fresh() -> pd.DataFrame:
        return validate_records(record, spec, 10)

    fitted = features.parse_state(state)
    calls: dict[str, Callable[[pd.DataFrame], object]] = {
        "matrix/before": lambda one: before.transform_matrix(one, fitted),
        "matrix/now": lambda one: features.transform_matrix(one, fitted),
        "frame/before": lambda one: before.transform_features(one, state),
        "frame/now": lambda one: features.transform_features(one, state),
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    loads: list[float] = []
    for _ in range(3):  # rounds alternate the four, so a load spike hits all alike
        for name, call in calls.items():
            times[name] += per_call(call, fresh, requests // 3)
        loads.append(round(os.getloadavg()[0], 2))
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    one = fresh()
    same = (
        before.transform_matrix(one, fitted).tobytes()
        == features.transform_matrix(one, fitted).tobytes()
    )
    return {
        "median_ms": medians,
        "speedup_matrix": medians["matrix/before"] / medians["matrix/now"],
        "speedup_frame": medians["frame/before"] / medians["frame/now"],
        "loads": loads,
        "matrix_bytes_equal": same,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    params, frame, state = credit_features(args.rows)
    report = {
        "rows": args.rows,
        "table": table_cell(frame, state, args.repeats),
        "1-row": request_cell(params, frame, state, args.requests),
    }
    table, request = report["table"], report["1-row"]
    print(json.dumps(report, indent=2), file=sys.stderr)
    print(
        f"{args.rows} rows transform_features: {table['speedup']['min']:.2f}x faster (min), "
        f"{table['speedup']['median']:.2f}x (median); "
        f"Parquet bytes equal: {table['parquet_bytes_equal']}; "
        f"loads {table['seconds']['now']['loads']}"
    )
    print(
        f"1-row transform_matrix: {request['median_ms']['matrix/before']:.3f} -> "
        f"{request['median_ms']['matrix/now']:.3f} ms ({request['speedup_matrix']:.2f}x); "
        f"transform_features {request['median_ms']['frame/before']:.3f} -> "
        f"{request['median_ms']['frame/now']:.3f} ms ({request['speedup_frame']:.2f}x); "
        f"matrix bytes equal: {request['matrix_bytes_equal']}; loads {request['loads']}"
    )


if __name__ == "__main__":
    main()
