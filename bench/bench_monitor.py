"""Benchmark monitoring: a batch of N rows (default 1,000,000) checked against the
reference, vs scoring the same rows with the model; and the live drift window's update
cost per request vs the in-process prediction of the same request.

    python bench/bench_monitor.py                    # 1M rows, 3 repeats
    python bench/bench_monitor.py --rows 100000 --repeats 2

Setup (untimed): the demo data (10,000 rows, seed 7) through the project's node functions
(split, features, train, evaluate, profile), exactly as the pipeline runs them; a fresh
batch of N rows from another seed of the same world, in memory.

Measured, each in its own interpreter so that peak memory is its own (Linux: the process
resets its peak RSS through /proc/self/clear_refs and reads VmHWM afterwards, so LightGBM's
native allocations count too; input loading is not timed):

- scoring: the service's prediction path (`transform_features` + `Booster.predict`) on
  the N rows (the baseline);
- monitoring: what `reprokit monitor` does once predictions exist: structure checks, the
  Evidently report against the reference sample (drift tests, data summary, quality
  tests), the verdict and the HTML page;
- monitoring + scoring: the batch has no prediction column, so `monitor` scores it too.

`--accuracy SAMPLES` measures the alarms instead: the verdict on SAMPLES disjoint fresh
batches of 500 and 2,000 rows (false alarms) and on the demo drift at 5,000 and 300 rows
(bench/results/monitor-accuracy.json).

Live: `LiveDriftMonitor.observe` for 1-row and 100-row requests (window 5000, full) vs two
in-process denominators with the same bundle (one thread, as served): `raw_predictions`
(features + predict) and the service's whole in-process request work (the JSON records
validated into a frame, features, predict, the response records). Neither includes HTTP,
so both fractions are upper bounds of the cost in a real request; the second is the one
the goal ("a fraction of request latency") is judged on.

Results: a table on stdout and bench/results/monitor-<rows>.json, with the load average.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(f"[bench_monitor {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def params() -> dict[str, Any]:
    sys.path.insert(0, str(PROJECT / "src"))
    from reprokit.config.compose import compose

    return compose(PROJECT).params


def reference(config: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any], Any]:
    """Model text, feature state, profile and reference sample from the project's own nodes
    on the demo data."""
    from reprokit.datagen.credit import generate_credit
    from reprokit.nodes.evaluate import evaluate_model
    from reprokit.nodes.features import fit_feature_state, transform_features
    from reprokit.nodes.ingest import conform_to_schema
    from reprokit.nodes.profile import build_reference_profile, sample_reference
    from reprokit.nodes.split import split_frame
    from reprokit.nodes.train import train_model

    data = config["data"]
    primary = conform_to_schema(generate_credit(10_000, seed=7), data["schema"])
    train, valid, test = split_frame(
        primary, config["split"], data["target"], data["task"], data["id_column"]
    )
    state = fit_feature_state(
        train,
        config["features"],
        data["schema"],
        data["target"],
        data["task"],
        data["id_column"],
        data["timestamp_column"],
        data["group_column"],
    )
    features = {name: transform_features(frame, state) for name, frame in
                (("train", train), ("valid", valid), ("test", test))}  # fmt: skip
    model, _ = train_model(features["train"], features["valid"], state, config["model"], 0)
    metrics, _, _ = evaluate_model(model, features["test"], state, config["evaluation"])
    monitoring = config["monitoring"]
    profile = build_reference_profile(
        train,
        features["test"],
        model,
        state,
        metrics,
        data["schema"],
        monitoring["bins"],
        monitoring["cdf_points"],
    )
    sample = sample_reference(
        train, features["test"], model, state, monitoring["reference_rows"], config["seed"]
    )
    return model, state, profile, sample


def bundle(model: str, state: dict[str, Any], request_spec: Any = None) -> Any:
    """A serving bundle (the request spec only matters where requests are validated)."""
    from reprokit.config.models import SchemaSpec
    from reprokit.models import load_model
    from reprokit.nodes.features import parse_state
    from reprokit.serving.bundle import Bundle, ModelInfo

    unused = SchemaSpec(columns={"unused": {"dtype": "str"}})  # type: ignore[dict-item]
    return Bundle(
        predictor=load_model(model),
        state=parse_state(state),
        state_dict=state,
        request_spec=request_spec or unused,
        info=ModelInfo(tag="bench"),
        num_threads=0,
    )


# --- measured in a child process -----------------------------------------------------------
# A fresh interpreter per measurement (not a fork: LightGBM's OpenMP threads in the parent
# make a forked child hang), loading the prepared files untimed.

MEASUREMENTS = ("scoring", "monitoring", "monitoring_and_scoring")


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(name: str, workdir: Path) -> dict[str, float]:
    import pandas as pd

    from reprokit.config.models import MonitoringConfig
    from reprokit.monitoring.analysis import check_structure
    from reprokit.monitoring.evidently_report import current_table, run_report, verdict
    from reprokit.nodes.profile import parse_profile
    from reprokit.serving.bundle import raw_predictions

    model = (workdir / "model.txt").read_text(encoding="utf-8")
    state = json.loads((workdir / "feature_state.json").read_text(encoding="utf-8"))
    profile = parse_profile(json.loads((workdir / "profile.json").read_text(encoding="utf-8")))
    monitoring = MonitoringConfig.model_validate(
        json.loads((workdir / "monitoring.json").read_text(encoding="utf-8"))
    )
    batch = pd.read_parquet(workdir / "batch.parquet")
    sample = pd.read_parquet(workdir / "sample.parquet")
    served = bundle(model, state)
    predictions = raw_predictions(served, batch.iloc[:10])  # warm the code paths
    if name == "monitoring":
        predictions = raw_predictions(served, batch)

    def report(raw: Any) -> None:
        check_structure(batch, profile, None)
        snapshot = run_report(current_table(batch, profile, raw, None), sample, profile, monitoring)
        verdict(snapshot.dict())
        snapshot.get_html_str(as_iframe=False)

    # Imports are a fixed start-up cost of any command, not work per row: done untimed.
    import evidently.presets  # noqa: F401
    import scipy.stats  # noqa: F401
    import sklearn.metrics  # noqa: F401

    work: dict[str, Callable[[], Any]] = {
        "scoring": lambda: raw_predictions(served, batch),
        "monitoring": lambda: report(predictions),
        "monitoring_and_scoring": lambda: report(raw_predictions(served, batch)),
    }
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (peak RSS) to the current RSS
    base = _rss_kib("VmRSS")
    started = time.perf_counter()
    work[name]()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mib": (_rss_kib("VmHWM") - base) / 1024}


def measure(name: str, workdir: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src")}
    result = subprocess.run(
        [sys.executable, __file__, "--child", name, "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def summarize(samples: list[dict[str, float]]) -> dict[str, Any]:
    seconds = [s["seconds"] for s in samples]
    return {
        "seconds_min": min(seconds),
        "seconds_median": statistics.median(seconds),
        "peak_mib_max": max(s["peak_mib"] for s in samples),
        "samples": samples,
    }


def per_call(work: Callable[[], Any], calls: int) -> float:
    for _ in range(min(50, calls)):
        work()
    started = time.perf_counter()
    for _ in range(calls):
        work()
    return (time.perf_counter() - started) / calls


def batch_measurements(rows: int, repeats: int, prepared: dict[str, Any]) -> dict[str, Any]:
    """Each measurement `repeats` times, each in its own interpreter."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    try:
        (workdir / "model.txt").write_text(prepared["model"], encoding="utf-8")
        for name in ("feature_state", "profile", "monitoring"):
            (workdir / f"{name}.json").write_text(json.dumps(prepared[name]), encoding="utf-8")
        prepared["batch"].to_parquet(workdir / "batch.parquet", index=False)
        prepared["sample"].to_parquet(workdir / "sample.parquet", index=False)
        measured: dict[str, Any] = {}
        for name in MEASUREMENTS:
            samples = []
            for repeat in range(repeats):
                samples.append(measure(name, workdir))
                log(f"{name} #{repeat + 1} ({rows:,} rows): {samples[-1]['seconds']:.2f} s, "
                    f"peak +{samples[-1]['peak_mib']:.0f} MiB")  # fmt: skip
            measured[name] = summarize(samples)
        return measured
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# The alarms' accuracy at the default thresholds (conf/monitoring): the drift the demo plants
# (`reprokit data generate --drift`) and fresh samples of the training world (seed 8).
DEMO_DRIFT = {"income", "loan_amount", "purpose"}
FRESH_SIZES = (500, 2000)
DRIFT_SIZES = (5000, 300)


def accuracy(
    prepared: dict[str, Any],
    samples: int,
    fresh_sizes: tuple[int, ...] = FRESH_SIZES,
    drift_sizes: tuple[int, ...] = DRIFT_SIZES,
) -> dict[str, Any]:
    """`reprokit monitor`'s verdict (the whole Evidently report, as the command runs it) on
    `samples` disjoint fresh batches per size and on the demo drift: false alarms (a batch
    with any failed test) and the columns found drifted."""
    from reprokit.config.models import MonitoringConfig
    from reprokit.datagen.credit import drift_credit, generate_credit
    from reprokit.monitoring.analysis import score
    from reprokit.monitoring.evidently_report import current_table, run_report, verdict
    from reprokit.nodes.profile import parse_profile

    profile = parse_profile(prepared["profile"])
    monitoring = MonitoringConfig.model_validate(prepared["monitoring"])

    def check(batch: Any) -> Any:
        batch = batch.reset_index(drop=True)
        raw = score(batch, prepared["model"], prepared["feature_state"])
        table = current_table(batch, profile, raw, None)
        return verdict(run_report(table, prepared["sample"], profile, monitoring).dict())

    drift: dict[str, Any] = {}
    for rows in drift_sizes:
        found = check(drift_credit(generate_credit(rows, seed=12), seed=12))
        drift[str(rows)] = {"drifted": found.drifted, "failed_tests": found.failed}
        log(f"demo drift {rows} rows: drifted {found.drifted}")
    fresh: dict[str, Any] = {}
    for rows in fresh_sizes:
        pool = generate_credit(samples * rows, seed=8)
        alarms = [check(pool.iloc[i * rows : (i + 1) * rows]).failed for i in range(samples)]
        fresh[str(rows)] = {
            "samples": samples,
            "false_alarms": sum(bool(failed) for failed in alarms),
            "failed_tests": [failed for failed in alarms if failed],
        }
        log(f"fresh {rows} rows: {fresh[str(rows)]['false_alarms']}/{samples} false alarms")
    return {"fresh": fresh, "demo_drift": drift, "demo_drift_columns": sorted(DEMO_DRIFT)}


def live_measurements(prepared: dict[str, Any], calls: int, data: dict[str, Any]) -> dict[str, Any]:
    """`observe` vs the in-process request work per request of 1 and 100 rows, window full."""
    from reprokit.config.models import MonitoringConfig
    from reprokit.datagen.credit import generate_credit
    from reprokit.monitoring.live import LiveDriftMonitor
    from reprokit.schemas.build import request_schema_spec
    from reprokit.serving.batch import frame_to_records
    from reprokit.serving.bundle import predict_frame, raw_predictions
    from reprokit.serving.request import validate_records

    monitoring = MonitoringConfig.model_validate(prepared["monitoring"])
    spec = request_schema_spec(data["schema"], data["target"])
    served = bundle(prepared["model"], prepared["feature_state"], spec)
    served.num_threads = 1  # the service scores each request on one thread
    live_config = monitoring.live
    pool = generate_credit(live_config.window, seed=9).reset_index(drop=True)
    live: dict[str, Any] = {"window_rows": live_config.window}
    for rows in (1, 100):
        monitor = LiveDriftMonitor(prepared["profile"], live_config, monitoring.psi_threshold)
        monitor.observe(pool, raw_predictions(served, pool))  # a full window: evictions too
        # Distinct requests in turn (the same row over and over would drift the window).
        # A request's body carries the features, never the target (the schema refuses it);
        # the service's observer gets the validated frame, with the training dtypes.
        features = pool.drop(columns=[data["target"]])
        records = [
            frame_to_records(features.iloc[start : start + rows].reset_index(drop=True))
            for start in range(0, 50 * rows, rows)
        ]
        requests = [validate_records(body, spec, 10_000) for body in records]
        scored = [(request, raw_predictions(served, request)) for request in requests]
        bodies = itertools.cycle(records)

        def request_work() -> object:
            return predict_frame(served, validate_records(next(bodies), spec, 10_000))  # noqa: B023

        turn = itertools.cycle(scored)
        count = calls if rows == 1 else max(200, calls // 5)
        observe_s = per_call(lambda: monitor.observe(*next(turn)), count)  # noqa: B023
        predict_s = per_call(lambda: raw_predictions(served, next(turn)[0]), count)  # noqa: B023
        request_s = per_call(request_work, count)
        live[f"{rows}_rows"] = {
            "observe_us": observe_s * 1e6,
            "predict_us": predict_s * 1e6,
            "request_us": request_s * 1e6,
            "fraction": observe_s / predict_s,
            "fraction_of_request": observe_s / request_s,
        }
        live["ring_kib"] = monitor._ring.nbytes / 1024
    return live


def print_result(result: dict[str, Any], path: Path) -> None:
    measured, live = result["measured"], result["live"]
    print(f"\nmonitoring {result['rows']:,} rows vs scoring them (min of {result['repeats']}; "
          f"load average {result['load_average_before'][0]:.2f} -> "
          f"{result['load_average_after'][0]:.2f}, {result['cpus']} CPUs)")  # fmt: skip
    print(f"{'':28}{'seconds':>10}{'peak MiB':>10}{'vs scoring':>12}")
    base = measured["scoring"]["seconds_min"]
    for name, values in measured.items():
        print(f"{name:28}{values['seconds_min']:>10.2f}{values['peak_mib_max']:>10.0f}"
              f"{values['seconds_min'] / base:>11.2f}x")  # fmt: skip
    print(f"\nlive drift window ({live['window_rows']} rows, ring {live['ring_kib']:.0f} KiB): "
          "observe vs in-process work per request (goal: under 5% of the request)")  # fmt: skip
    for size in ("1_rows", "100_rows"):
        values = live[size]
        print(f"  {size:>9}: observe {values['observe_us']:8.1f} us; features + predict "
              f"{values['predict_us']:8.1f} us -> {values['fraction']:.1%}; whole request "
              f"(validation + features + predict + response) {values['request_us']:8.1f} us "
              f"-> {values['fraction_of_request']:.1%}")  # fmt: skip
    print(f"\nwrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000, help="live requests timed per size")
    parser.add_argument(
        "--accuracy",
        type=int,
        metavar="SAMPLES",
        help="only measure the alarms: false alarms on SAMPLES fresh batches per size, "
        "and the demo drift's detection",
    )
    parser.add_argument("--child", choices=MEASUREMENTS, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(PROJECT / "src"))
        print(json.dumps(child(args.child, args.workdir)))
        return 0
    # Run as `python bench/bench_monitor.py`, this folder is first on sys.path (the tests
    # import this module as `bench.bench_monitor`, without it, and never call main).
    from _common import save_results

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    load_before = os.getloadavg()
    config = params()
    from reprokit.datagen.credit import generate_credit

    log("training the reference on the demo data (10,000 rows)")
    model, state, profile, sample = reference(config)
    prepared = {
        "model": model,
        "feature_state": state,
        "profile": profile,
        "sample": sample,
        "monitoring": config["monitoring"],
    }
    if args.accuracy:
        measured_accuracy = accuracy(prepared, args.accuracy)
        save_results("monitor-accuracy", measured_accuracy)
        print(json.dumps(measured_accuracy, indent=2))
        return 0
    log(f"generating {args.rows:,} fresh rows (seed 8)")
    prepared["batch"] = generate_credit(args.rows, seed=8).reset_index(drop=True)
    measured = batch_measurements(args.rows, args.repeats, prepared)
    log("live drift window: observe vs prediction per request")
    live = live_measurements(prepared, args.calls, config["data"])
    base = measured["scoring"]["seconds_min"]
    result = {
        "rows": args.rows,
        "repeats": args.repeats,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        "measured": measured,
        "ratio_monitoring_to_scoring": measured["monitoring"]["seconds_min"] / base,
        "ratio_monitoring_and_scoring_to_scoring": (
            measured["monitoring_and_scoring"]["seconds_min"] / base
        ),
        "live": live,
    }
    print_result(result, save_results(f"monitor-{args.rows}", result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
