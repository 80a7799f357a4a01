"""Benchmark serving: `bentoml serve` (batching off and on) vs a minimal FastAPI app vs raw
in-process `Booster.predict`.

    python bench/bench_serving.py [--seconds 3] [--concurrency 1,8,32] [--workdir DIR] [--keep]

On a throwaway copy of the project: `reprokit run tracking=none` and `reprokit package`
into a temporary BENTOML_HOME (untimed). Then, one server at a time (never two at once on
a shared machine), each measured with the same asyncio + httpx load generator:

- `bentoml`: `bentoml serve` from the copy's root as a user runs it: auth on (one key),
  access log on, rate limit off (it would refuse the load), batching off;
- `bentoml+batch`: the same with `REPROKIT_BATCHING=1`;
- `fastapi` (the baseline): FastAPI + uvicorn, one worker, no middleware, one `def`
  endpoint calling the same bundle code (`validate_records` + `predict_frame`) on the same
  packaged model (`python bench/bench_serving.py --baseline-server ...`);
- `in-process`: no HTTP: `Booster.predict` on the ready feature matrix (raw), and the
  whole bundle path (validation + features + predict) for reference.

Per server: p50/p99 latency of 1-row and 100-row requests at each concurrency, and rows/s
of 1000-row requests at concurrency 8. Each cell runs `--seconds` after a short warm-up.
Prints a table of ratios against the FastAPI baseline (goal: p99 <= 1.5x) and rows/s
against raw in-process predict (goal: >= 0.5x), and writes bench/results/serving.json.
The load generator shares the machine with the server (as it must on one host): the
ratios, not the absolute figures, are the result.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
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
    PROJECT,
    TELEMETRY_OFF,
    VENV_BIN,
    BenchError,
    Progress,
    copy_project,
    run,
)

RESULTS = PROJECT / "bench" / "results"
API_KEY = "bench-key"
SIZES = (1, 100)
THROUGHPUT_ROWS = 1000
THROUGHPUT_CONCURRENCY = 8
WARMUP_SECONDS = 0.7
GOAL_P99 = 1.5
GOAL_ROWS = 0.5
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
    packaged = run(["reprokit", "package"], copy, env)
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


def baseline_app(model_dir: Path, tag: str) -> Any:
    """The minimal FastAPI app: the same bundle code, nothing else."""
    import yaml
    from fastapi import FastAPI, HTTPException

    from reprokit.serving.bundle import ModelInfo, load_bundle, predict_frame
    from reprokit.serving.request import RequestValidationError, validate_records

    metadata = yaml.safe_load((model_dir / "model.yaml").read_text())["metadata"]
    bundle = load_bundle(model_dir, ModelInfo(tag=tag), metadata)
    app = FastAPI()

    @app.get("/livez")
    def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    def predict(body: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        try:
            frame = validate_records(body["records"], bundle.request_spec, 10_000)
        except RequestValidationError as error:
            raise HTTPException(422, error.as_dict()) from None
        return {"model": bundle.info.as_dict(), "predictions": predict_frame(bundle, frame)}

    return app


def serve_baseline(port: int, model_dir: Path, tag: str) -> None:
    import uvicorn

    uvicorn.run(baseline_app(model_dir, tag), host="127.0.0.1", port=port, log_level="warning")


# --- load ---------------------------------------------------------------------------------------


async def _load(
    url: str, body: bytes, concurrency: int, seconds: float
) -> tuple[list[float], list[int]]:
    import httpx

    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    latencies: list[float] = []
    failures: list[int] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker(until: float, record: bool) -> None:
            while time.perf_counter() < until:
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                if response.status_code != 200:
                    failures.append(response.status_code)
                elif record:
                    latencies.append(time.perf_counter() - started)

        for duration, record in ((WARMUP_SECONDS, False), (seconds, True)):
            until = time.perf_counter() + duration
            await asyncio.gather(*(worker(until, record) for _ in range(concurrency)))
    return latencies, failures


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(
    latencies: list[float], rows: int, seconds: float, failures: list[int] | None = None
) -> dict[str, float]:
    return {
        "requests": len(latencies),
        "failed": len(failures or []),
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "rows_per_s": len(latencies) * rows / seconds,
        "load": round(os.getloadavg()[0], 2),
    }


def measure_http(
    url: str, bodies: Mapping[int, bytes], args: argparse.Namespace, progress: Progress, name: str
) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for rows in SIZES:
        for concurrency in args.concurrency:
            latencies, failed = asyncio.run(_load(url, bodies[rows], concurrency, args.seconds))
            cells[f"{rows}r/c{concurrency}"] = summary(latencies, rows, args.seconds, failed)
            progress(f"{name} {rows} rows c={concurrency}: {cells[f'{rows}r/c{concurrency}']}")
    latencies, failed = asyncio.run(
        _load(url, bodies[THROUGHPUT_ROWS], THROUGHPUT_CONCURRENCY, args.seconds)
    )
    cells["throughput"] = summary(latencies, THROUGHPUT_ROWS, args.seconds, failed)
    progress(f"{name} {THROUGHPUT_ROWS} rows c={THROUGHPUT_CONCURRENCY}: {cells['throughput']}")
    return cells


def _bundle_path(bundle: Any, request: list[dict[str, Any]]) -> object:
    from reprokit.serving.bundle import predict_frame
    from reprokit.serving.request import validate_records

    return predict_frame(bundle, validate_records(request, bundle.request_spec, 10_000))


def measure_in_process(
    model_dir: Path, tag: str, records: Mapping[int, list[dict[str, Any]]], seconds: float
) -> dict[str, Any]:
    """Raw `Booster.predict` on ready matrices, and the whole bundle path, one thread."""
    import yaml

    from reprokit.serving.bundle import (
        ModelInfo,
        feature_matrix,
        load_bundle,
        predict_matrix,
    )
    from reprokit.serving.request import validate_records

    metadata = yaml.safe_load((model_dir / "model.yaml").read_text())["metadata"]
    bundle = load_bundle(model_dir, ModelInfo(tag=tag), metadata)
    results: dict[str, Any] = {}
    for rows in (*SIZES, THROUGHPUT_ROWS):
        frame = validate_records(records[rows], bundle.request_spec, 10_000)
        matrix = feature_matrix(bundle, frame)
        request = records[rows]
        calls: dict[str, Callable[[], object]] = {
            "raw": functools.partial(predict_matrix, bundle, matrix),
            "bundle": functools.partial(_bundle_path, bundle, request),
        }
        for name, call in calls.items():
            latencies: list[float] = []
            until = time.perf_counter() + min(seconds, 2.0)
            while time.perf_counter() < until:
                started = time.perf_counter()
                call()
                latencies.append(time.perf_counter() - started)
            busy = sum(latencies)
            cell = summary(latencies, rows, busy)
            results[f"{name}/{rows}r"] = cell
    return results


# --- report -------------------------------------------------------------------------------------


def table(results: Mapping[str, Any], concurrency: list[int]) -> str:
    base = results["fastapi"]
    lines = [
        f"{'server':<15}{'cell':<14}{'p50 ms':>9}{'p99 ms':>9}{'p99/base':>10}{'rows/s':>11}"
        f"{'failed':>8}",
    ]
    for name in ("fastapi", "bentoml", "bentoml+batch"):
        for rows in SIZES:
            for c in concurrency:
                key = f"{rows}r/c{c}"
                cell = results[name][key]
                ratio = cell["p99_ms"] / base[key]["p99_ms"]
                lines.append(
                    f"{name:<15}{key:<14}{cell['p50_ms']:>9.2f}{cell['p99_ms']:>9.2f}"
                    f"{ratio:>9.2f}x{cell['rows_per_s']:>11.0f}{cell['failed']:>8}"
                )
    raw = results["in-process"][f"raw/{THROUGHPUT_ROWS}r"]["rows_per_s"]
    bundle = results["in-process"][f"bundle/{THROUGHPUT_ROWS}r"]["rows_per_s"]
    lines.append("")
    lines.append(f"rows/s, {THROUGHPUT_ROWS}-row requests (HTTP at c={THROUGHPUT_CONCURRENCY})")
    lines.append(f"{'source':<26}{'rows/s':>11}{'/raw':>8}{'/fastapi':>10}")
    base_rows = base["throughput"]["rows_per_s"]
    for name, value in (
        ("in-process raw predict", raw),
        ("in-process bundle path", bundle),
        ("fastapi", base_rows),
        ("bentoml", results["bentoml"]["throughput"]["rows_per_s"]),
        ("bentoml+batch", results["bentoml+batch"]["throughput"]["rows_per_s"]),
    ):
        lines.append(f"{name:<26}{value:>11.0f}{value / raw:>7.3f}x{value / base_rows:>9.2f}x")
    for rows in SIZES:
        cell = results["in-process"][f"raw/{rows}r"]
        lines.append(
            f"in-process raw predict {rows} row(s): "
            f"p50 {cell['p50_ms']:.3f} ms, p99 {cell['p99_ms']:.3f} ms"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--concurrency", type=lambda text: [int(v) for v in text.split(",")], default=[1, 8, 32]
    )
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--baseline-server", nargs=3, metavar=("PORT", "MODEL_DIR", "TAG"))
    args = parser.parse_args()
    if args.baseline_server:
        port, model_dir, tag = args.baseline_server
        serve_baseline(int(port), Path(model_dir), tag)
        return
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
        bodies = {rows: json.dumps({"records": value}).encode() for rows, value in records.items()}
        results: dict[str, Any] = {}
        serve_env = {
            **env,
            "REPROKIT_API_KEYS": API_KEY,
            "REPROKIT_RATE_LIMIT_RPS": "0",
            "REPROKIT_MODEL_TAG": tag,
        }
        port = free_port()
        with server(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--baseline-server",
                str(port),
                str(model_dir),
                tag,
            ],
            copy,
            env,
            f"http://127.0.0.1:{port}/livez",
            workdir / "fastapi.log",
        ):
            results["fastapi"] = measure_http(
                f"http://127.0.0.1:{port}/predict", bodies, args, progress, "fastapi"
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
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / "serving.json"
        out.write_text(
            json.dumps(
                {
                    "when": datetime.now(UTC).isoformat(timespec="seconds"),
                    "machine": {
                        "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "load": os.getloadavg(),
                    },
                    "seconds_per_cell": args.seconds,
                    "goals": {"p99_over_fastapi_max": GOAL_P99, "rows_over_raw_min": GOAL_ROWS},
                    "results": results,
                    "table": report,
                },
                indent=2,
            )
            + "\n"
        )
        progress(f"wrote {out}")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
