"""Benchmark serving: `bentoml serve` (batching off and on) vs the peer baseline, a minimal
hand-written FastAPI + pydantic + `Booster.predict` app, vs raw in-process `Booster.predict`.

    python bench/bench_serving.py [--seconds 3] [--concurrency 1,8,32] [--workdir DIR] [--keep]

On a throwaway copy of the project: `reprokit run tracking=none` and
`reprokit package --untracked` into a temporary BENTOML_HOME (untimed). Then, one server at a
time (never two at once on a shared machine), each loaded by `wrk` (Debian's package, C,
one thread: `make bench-tools` installs it), which costs far less CPU per request than any
server measured, so it is not the bottleneck:

- `peer` (the baseline): what a user would write instead: FastAPI + uvicorn, one worker, a
  pydantic body of feature vectors (`{"rows": [[float, ...], ...]}`), `Booster.predict` on
  the same LightGBM model, probabilities back; no auth, no schema, no features code
  (`bench/serving_peer.py`);
- `bentoml`: `bentoml serve` from the copy's root as a user runs it: one worker, auth on
  (one key), access log on, rate limit off (it would refuse the load), batching off;
- `bentoml+batch`: the same with `REPROKIT_BATCHING=1`;
- `in-process`: no HTTP: `Booster.predict` on the ready feature matrix (raw), and the whole
  request path a worker runs (validation, features, predict, response records), for the
  records and for the same rows as a columnar body.

Per server: p50/p99 latency and req/s of 1-row and 100-row requests at each concurrency,
and rows/s of 1000-row requests at concurrency 8. Each cell runs `--seconds` after a short
warm-up. Prints the issue's goals as ratios: the 1-row in-process path's median (<= 1 ms),
1-row req/s per worker at c=32 (>= 1,000), p99 against the peer at each concurrency
(<= 1.5x), 1000-row rows/s against raw predict (>= 0.5x); writes
bench/results/serving.json. The load generator shares the 2 cores with the server (as it
must on one host): the ratios, not the absolute figures, are the result.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import (
    TELEMETRY_OFF,
    VENV_BIN,
    BenchError,
    Progress,
    copy_project,
    run,
    save_results,
)

API_KEY = "bench-key"
SIZES = (1, 100)
THROUGHPUT_ROWS = 1000
THROUGHPUT_CONCURRENCY = 8
WARMUP_SECONDS = 0.7
GOAL_P99 = 1.5
GOAL_ROWS = 0.5
GOAL_IN_PROCESS_MS = 1.0
GOAL_RPS_C32 = 1000
READY_SECONDS = 120


# --- the project copy and its packaged model ---------------------------------------------------


def bench_env(copy: Path, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        **TELEMETRY_OFF,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(copy / "src"),
        "PYTHONUNBUFFERED": "1",
        "BENTOML_HOME": str(home),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
    }


def set_up(copy: Path, env: Mapping[str, str]) -> str:
    """Copy, train (tracking off) and package; returns the model's tag."""
    copy_project(copy)
    run(["reprokit", "config", "compose", "tracking=none"], copy, env)
    run(["reprokit", "run"], copy, env)
    # Tracking is off in the copy: no recorded run vouches for the model (untimed anyway).
    packaged = run(["reprokit", "package", "--untracked"], copy, env)
    return packaged.lines[-1][1].split()[-1]


def request_records(copy: Path, rows: int) -> list[dict[str, Any]]:
    import pandas as pd

    from reprokit.serving.batch import frame_to_records

    test = pd.read_parquet(copy / "data/03_primary/test.parquet")
    frame = test.drop(columns=["default"])
    while len(frame) < rows:
        frame = pd.concat([frame, frame], ignore_index=True)
    return frame_to_records(frame.head(rows))


# --- servers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"server exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise BenchError(f"server not ready in {READY_SECONDS} s:\n{log.read_text()[-3000:]}")


@contextmanager
def server(
    argv: list[str], cwd: Path, env: Mapping[str, str], ready: str, log: Path
) -> Iterator[None]:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_ready(process, ready, log)
        yield
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


# --- load ---------------------------------------------------------------------------------------


WRK_SCRIPT = """
local f = assert(io.open("{body}", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
done = function(summary, latency, requests)
  io.write(string.format("REPROKIT %d %d %d %d %.1f %.1f\\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, summary.duration, latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_load(url: str, body: Path, concurrency: int, seconds: float) -> dict[str, float]:
    """One wrk run (one thread, `concurrency` connections) after a warm-up run; its summary."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed: run `make bench-tools` (Debian's wrk package)")
    script = body.with_suffix(".lua")
    script.write_text(WRK_SCRIPT.format(body=body, key=API_KEY))
    out = ""
    for duration in (WARMUP_SECONDS, seconds):
        argv = [wrk, "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "30s"]
        argv += ["-s", str(script)]
        out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("REPROKIT "))
    requests, bad_status, socket_errors, duration_us, p50_us, p99_us = line.split()[1:]
    elapsed = float(duration_us) / 1e6
    return {
        "requests": int(requests),
        "failed": int(bad_status) + int(socket_errors),
        "p50_ms": float(p50_us) / 1000,
        "p99_ms": float(p99_us) / 1000,
        "req_per_s": int(requests) / elapsed,
        "load": round(os.getloadavg()[0], 2),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_http(
    url: str, bodies: Mapping[int, Path], args: argparse.Namespace, progress: Progress, name: str
) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for rows in SIZES:
        for concurrency in args.concurrency:
            key = f"{rows}r/c{concurrency}"
            cells[key] = wrk_load(url, bodies[rows], concurrency, args.seconds)
            cells[key]["rows_per_s"] = cells[key]["req_per_s"] * rows
            progress(f"{name} {key}: {cells[key]}")
    cell = wrk_load(url, bodies[THROUGHPUT_ROWS], THROUGHPUT_CONCURRENCY, args.seconds)
    cell["rows_per_s"] = cell["req_per_s"] * THROUGHPUT_ROWS
    cells["throughput"] = cell
    progress(f"{name} {THROUGHPUT_ROWS} rows c={THROUGHPUT_CONCURRENCY}: {cell}")
    return cells


def _request_path(bundle: Any, request: Any) -> object:
    """What a worker does for one request (its records, or `Columns`), without HTTP:
    validate, features, predict, response records (reprokit.serving.service)."""
    from reprokit.serving.bundle import predict_frame
    from reprokit.serving.request import validate_records

    return predict_frame(bundle, validate_records(request, bundle.request_spec, 10_000))


def _timed(call: Callable[[], object], seconds: float, rows: int) -> dict[str, float]:
    latencies: list[float] = []
    until = time.perf_counter() + min(seconds, 2.0)
    while time.perf_counter() < until:
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)
    return {
        "requests": len(latencies),
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "rows_per_s": len(latencies) * rows / sum(latencies),
    }


def measure_in_process(
    model_dir: Path, tag: str, records: Mapping[int, list[dict[str, Any]]], seconds: float
) -> dict[str, Any]:
    """Raw `Booster.predict` on ready matrices, and the whole request path, one thread."""
    import yaml

    from reprokit.serving.bundle import ModelInfo, feature_matrix, load_bundle, predict_matrix
    from reprokit.serving.request import Columns, validate_records

    metadata = yaml.safe_load((model_dir / "model.yaml").read_text())["metadata"]
    bundle = load_bundle(model_dir, ModelInfo(tag=tag), metadata)
    results: dict[str, Any] = {}
    for rows in (*SIZES, THROUGHPUT_ROWS):
        request = records[rows]
        matrix = feature_matrix(bundle, validate_records(request, bundle.request_spec, 10_000))
        raw = functools.partial(predict_matrix, bundle, matrix)
        path = functools.partial(_request_path, bundle, request)
        results[f"raw/{rows}r"] = _timed(raw, seconds, rows)
        results[f"path/{rows}r"] = _timed(path, seconds, rows)
        # The same rows as a columnar body ({"columns": {field: [values]}}).
        columns = Columns({name: [record[name] for record in request] for name in request[0]})
        by_columns = functools.partial(_request_path, bundle, columns)
        results[f"columns/{rows}r"] = _timed(by_columns, seconds, rows)
    return results


# --- report -------------------------------------------------------------------------------------

SERVERS = ("peer", "bentoml", "bentoml+batch")


def table(results: Mapping[str, Any], concurrency: list[int]) -> str:
    base = results["peer"]
    lines = [
        f"{'server':<15}{'cell':<12}{'p50 ms':>9}{'p99 ms':>9}{'p99/peer':>10}{'req/s':>9}"
        f"{'failed':>8}",
    ]
    for name in SERVERS:
        for rows in SIZES:
            for c in concurrency:
                key = f"{rows}r/c{c}"
                cell = results[name][key]
                ratio = cell["p99_ms"] / base[key]["p99_ms"]
                lines.append(
                    f"{name:<15}{key:<12}{cell['p50_ms']:>9.2f}{cell['p99_ms']:>9.2f}"
                    f"{ratio:>9.2f}x{cell['req_per_s']:>9.0f}{cell['failed']:>8}"
                )
    process = results["in-process"]
    raw = process[f"raw/{THROUGHPUT_ROWS}r"]["rows_per_s"]
    lines += ["", f"rows/s, {THROUGHPUT_ROWS}-row requests (HTTP at c={THROUGHPUT_CONCURRENCY})"]
    lines.append(f"{'source':<26}{'rows/s':>11}{'/raw':>8}{'/peer':>8}")
    peer_rows = base["throughput"]["rows_per_s"]
    for name, value in (
        ("in-process raw predict", raw),
        ("in-process request path", process[f"path/{THROUGHPUT_ROWS}r"]["rows_per_s"]),
        ("in-process path, columns", process[f"columns/{THROUGHPUT_ROWS}r"]["rows_per_s"]),
        *((name, results[name]["throughput"]["rows_per_s"]) for name in SERVERS),
    ):
        lines.append(f"{name:<26}{value:>11.0f}{value / raw:>7.3f}x{value / peer_rows:>7.2f}x")
    lines += ["", "goals (issue 14, part 4)", *goal_lines(results, concurrency)]
    return "\n".join(lines)


def goal_lines(results: Mapping[str, Any], concurrency: list[int]) -> list[str]:
    """Each goal of the serving issue with the measured value and whether it is met."""
    process, served, peer = results["in-process"], results["bentoml"], results["peer"]

    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    path_ms = process["path/1r"]["p50_ms"]
    lines = [
        f"1-row in-process request path p50 {path_ms:.3f} ms (goal <= {GOAL_IN_PROCESS_MS} ms; "
        f"raw predict {process['raw/1r']['p50_ms']:.3f} ms): "
        + verdict(path_ms <= GOAL_IN_PROCESS_MS)
    ]
    if 32 in concurrency:
        rps = served["1r/c32"]["req_per_s"]
        lines.append(
            f"1-row req/s at c=32, one worker {rps:.0f} (goal >= {GOAL_RPS_C32}; peer "
            f"{peer['1r/c32']['req_per_s']:.0f}): {verdict(rps >= GOAL_RPS_C32)}"
        )
    for c in concurrency:
        ratio = served[f"1r/c{c}"]["p99_ms"] / peer[f"1r/c{c}"]["p99_ms"]
        lines.append(
            f"1-row p99 at c={c}: {ratio:.2f}x the peer (goal <= {GOAL_P99}x): "
            f"{verdict(ratio <= GOAL_P99)}"
        )
    rows = served["throughput"]["rows_per_s"] / process[f"raw/{THROUGHPUT_ROWS}r"]["rows_per_s"]
    lines.append(
        f"{THROUGHPUT_ROWS}-row rows/s: {rows:.3f}x raw predict (goal >= {GOAL_ROWS}x): "
        f"{verdict(rows >= GOAL_ROWS)}"
    )
    return lines


def feature_rows(
    model_dir: Path, tag: str, records: list[dict[str, Any]]
) -> list[list[float | None]]:
    """The records as the feature vectors the peer takes (the service's own features code)."""
    import yaml

    from reprokit.serving.bundle import ModelInfo, feature_matrix, load_bundle
    from reprokit.serving.request import validate_records

    metadata = yaml.safe_load((model_dir / "model.yaml").read_text())["metadata"]
    bundle = load_bundle(model_dir, ModelInfo(tag=tag), metadata)
    frame = validate_records(records, bundle.request_spec, 10_000)
    matrix = feature_matrix(bundle, frame)
    # JSON has no NaN: a missing feature value goes as null.
    return [[None if math.isnan(v) else v for v in row] for row in matrix.tolist()]


def write_bodies(workdir: Path, payloads: Mapping[int, object], name: str) -> dict[int, Path]:
    paths = {}
    for rows, payload in payloads.items():
        path = workdir / f"{name}-{rows}.json"
        path.write_text(json.dumps(payload))
        paths[rows] = path
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--concurrency", type=lambda text: [int(v) for v in text.split(",")], default=[1, 8, 32]
    )
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed: run `make bench-tools` (Debian's wrk package)")
    progress = Progress()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="reprokit-bench-serving-"))
    copy, home = workdir / "project", workdir / "bentoml"
    env = bench_env(copy, home)
    try:
        progress(f"project copy, train and package in {workdir}")
        tag = set_up(copy, env)
        name, version = tag.split(":")
        model_dir = home / "models" / name / version
        sys.path.insert(0, str(copy / "src"))
        records = {rows: request_records(copy, rows) for rows in (*SIZES, THROUGHPUT_ROWS)}
        bodies = write_bodies(
            workdir, {rows: {"records": value} for rows, value in records.items()}, "records"
        )
        peer_bodies = write_bodies(
            workdir,
            {
                rows: {"rows": feature_rows(model_dir, tag, value)}
                for rows, value in records.items()
            },
            "rows",
        )
        results: dict[str, Any] = {}
        serve_env = {
            **env,
            "REPROKIT_API_KEYS": API_KEY,
            "REPROKIT_RATE_LIMIT_RPS": "0",
            "REPROKIT_MODEL_TAG": tag,
            # The goals are per worker; the service's own default is one per CPU.
            "REPROKIT_WORKERS": os.environ.get("REPROKIT_WORKERS", "1"),
        }
        port = free_port()
        peer = [sys.executable, str(Path(__file__).with_name("serving_peer.py")), str(port)]
        with server(
            [*peer, str(model_dir)],
            copy,
            env,
            f"http://127.0.0.1:{port}/livez",
            workdir / "peer.log",
        ):
            results["peer"] = measure_http(
                f"http://127.0.0.1:{port}/predict", peer_bodies, args, progress, "peer"
            )
        for label, batching in (("bentoml", "0"), ("bentoml+batch", "1")):
            port = free_port()
            with server(
                ["bentoml", "serve", "--host", "127.0.0.1", "--port", str(port)],
                copy,
                {**serve_env, "REPROKIT_BATCHING": batching},
                f"http://127.0.0.1:{port}/readyz",
                workdir / f"{label}.log",
            ):
                results[label] = measure_http(
                    f"http://127.0.0.1:{port}/predict", bodies, args, progress, label
                )
        progress("in-process")
        results["in-process"] = measure_in_process(model_dir, tag, records, args.seconds)
        report = table(results, args.concurrency)
        print(report)
        out = save_results(
            "serving",
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load": os.getloadavg(),
                },
                "load_generator": "wrk, 1 thread",
                "seconds_per_cell": args.seconds,
                "goals": {
                    "in_process_1row_p50_ms_max": GOAL_IN_PROCESS_MS,
                    "req_per_s_c32_min": GOAL_RPS_C32,
                    "p99_over_peer_max": GOAL_P99,
                    "rows_over_raw_min": GOAL_ROWS,
                },
                "results": results,
                "table": report,
            },
        )
        progress(f"wrote {out}")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
