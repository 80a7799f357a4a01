"""Benchmark the Dask engine against the pandas engine on the credit pipeline.

    python bench/bench_engines.py [--rows 1000000 3000000 10000000] [--workdir DIR] [--keep]
                                  [--workers 2] [--threads-per-worker 1]

Per size, in one project copy (taken from the working tree) whose raw data is generated once
(untimed for the ratio; its time and peak memory are reported: the generator writes in
chunks, so its memory must not grow with the rows):

1. `reprokit run tracking=none data.source.rows=N` (the pandas engine: the baseline);
2. `reprokit run tracking=none data.source.rows=N engine=dask` (a local cluster of
   `--workers` processes; cluster start and stop included in its time).

Each run's wall time (process spawn to exit), and peak resident memory per process: the
process tree is sampled every 0.2 s with psutil (the client process, and for Dask the
nanny and worker processes), and `ru_maxrss` of the waited-for children is recorded as a
cross-check. Per node, the seconds between Kedro's "Running node" lines. Prints a scaling
table with Dask/pandas ratios and writes `bench/results/engines.json` after every size, so
a long run that is stopped keeps what finished. Timings are reported, never asserted; the
load average is recorded next to each run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as `python bench/<script>.py`: this folder is first on sys.path.
from _common import PROJECT, TELEMETRY_OFF, VENV_BIN, BenchError, Progress, copy_worktree

RESULTS = PROJECT / "bench" / "results"
RUNNING_NODE = re.compile(r"Running node: (\w+)")
SAMPLE_SECONDS = 0.2
MIB = 1024 * 1024


@dataclass
class Measured:
    """One `reprokit run`: wall time, peak RSS per process role, per-node seconds."""

    seconds: float
    load_before: float
    load_after: float
    client_peak_mib: float
    worker_peak_mib: float  # the largest of the Dask worker processes (0 for pandas)
    tree_peak_mib: float  # the largest sampled sum over every process of the run at once
    ru_maxrss_children_mib: float
    processes: int
    node_seconds: dict[str, float] = field(default_factory=dict)


class TreeSampler:
    """Samples the RSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peaks: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.tree_peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            total = 0.0
            try:
                processes = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    rss = process.memory_info().rss / MIB
                    if process.pid not in self.names:
                        self.names[process.pid] = " ".join(process.cmdline())[:200]
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                total += rss
                self.peaks[process.pid] = max(self.peaks.get(process.pid, 0.0), rss)
            self.tree_peak = max(self.tree_peak, total)
            self._stop.wait(SAMPLE_SECONDS)


def environment() -> dict[str, str]:
    return {
        **os.environ,
        **TELEMETRY_OFF,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
    }


def measure(argv: list[str], cwd: Path, env: dict[str, str]) -> Measured:
    """Run `argv` to completion, sampling its process tree; a failure is a `BenchError`."""
    load_before = os.getloadavg()[0]
    lines: list[tuple[float, str]] = []
    started = time.perf_counter()
    with subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        with TreeSampler(process.pid) as sampler:
            for line in process.stdout:
                lines.append((time.perf_counter() - started, line.rstrip("\n")))
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        tail = "\n".join(line for _, line in lines[-30:])
        raise BenchError(f"`{' '.join(argv)}` exited {process.returncode}:\n{tail}")
    workers = [
        peak
        for pid, peak in sampler.peaks.items()
        if pid != process.pid and "multiprocessing" in sampler.names.get(pid, "")
    ]
    return Measured(
        seconds=round(seconds, 2),
        load_before=round(load_before, 2),
        load_after=round(os.getloadavg()[0], 2),
        client_peak_mib=round(sampler.peaks.get(process.pid, 0.0), 1),
        worker_peak_mib=round(max(workers, default=0.0), 1),
        tree_peak_mib=round(sampler.tree_peak, 1),
        ru_maxrss_children_mib=round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
        processes=len(sampler.peaks),
        node_seconds=node_seconds(lines, seconds),
    )


def node_seconds(lines: list[tuple[float, str]], end: float) -> dict[str, float]:
    """Seconds from each "Running node" line to the next (the last: to the pipeline's end)."""
    starts = [(at, m.group(1)) for at, line in lines if (m := RUNNING_NODE.search(line))]
    done = next((at for at, line in lines if "pipeline.done" in line), end)
    bounds = [*(at for at, _ in starts[1:]), done]
    return {name: round(stop - at, 2) for (at, name), stop in zip(starts, bounds, strict=True)}


def generate(project: Path, rows: int, env: dict[str, str]) -> dict[str, float]:
    """Write the raw data (untimed for the ratio); report its time and peak memory."""
    code = (
        "import json, resource, sys, time; from pathlib import Path;"
        "from reprokit.config.compose import workspace_from_conf;"
        "from reprokit.datagen.prepare import ensure_source;"
        f"w = workspace_from_conf(Path('.'), ['data.source.rows={rows}']);"
        "t = time.perf_counter();"
        "ensure_source(w.config.data.source.model_dump(), w.config.data.path, w.root);"
        "print(json.dumps({'seconds': time.perf_counter() - t,"
        " 'peak_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"data generation failed:\n{result.stderr[-3000:]}")
    report: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return {key: round(value, 2) for key, value in report.items()}


def metrics(project: Path) -> dict[str, Any]:
    return dict(json.loads((project / "data/08_reporting/metrics.json").read_text()))


def table(results: list[dict[str, Any]]) -> str:
    header = (
        f"{'rows':>10} | {'pandas s':>8} | {'dask s':>8} | {'time x':>6} | {'pandas MiB':>10} | "
        f"{'dask client':>11} | {'dask worker':>11} | {'dask total':>10} | {'mem x':>5} | "
        f"{'AUC pandas':>10} | {'AUC dask':>8} | load"
    )
    rows = [header, "-" * len(header)]
    for entry in results:
        local, dask = entry["pandas"], entry["dask"]
        rows.append(
            f"{entry['rows']:>10,} | {local['seconds']:>8.1f} | {dask['seconds']:>8.1f} | "
            f"{dask['seconds'] / local['seconds']:>6.2f} | {local['tree_peak_mib']:>10.0f} | "
            f"{dask['client_peak_mib']:>11.0f} | {dask['worker_peak_mib']:>11.0f} | "
            f"{dask['tree_peak_mib']:>10.0f} | "
            f"{dask['tree_peak_mib'] / local['tree_peak_mib']:>5.2f} | "
            f"{entry['metrics']['pandas']['roc_auc']:>10.4f} | "
            f"{entry['metrics']['dask']['roc_auc']:>8.4f} | "
            f"{local['load_before']}/{dask['load_before']}"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS / "engines.json")
    parser.add_argument(
        "--append", action="store_true", help="keep the output's other sizes (a resumed run)"
    )
    args = parser.parse_args()

    progress = Progress()
    env = environment()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="reprokit-bench-engines-"))
    dask_overrides = [
        "engine=dask",
        f"engine.n_workers={args.workers}",
        f"engine.threads_per_worker={args.threads_per_worker}",
    ]
    report: dict[str, Any] = {
        "benchmark": "engines",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "dask": {"workers": args.workers, "threads_per_worker": args.threads_per_worker},
        "sizes": [],
    }
    if args.append and args.output.exists():
        earlier = json.loads(args.output.read_text(encoding="utf-8"))
        report["sizes"] = [e for e in earlier["sizes"] if e["rows"] not in args.rows]
        for entry in report["sizes"]:
            entry.setdefault("created", earlier["created"])
    # One snapshot of the code for every size, so edits made while it runs change nothing.
    template = workdir / "template"
    copy_worktree(template)
    try:
        for rows in args.rows:
            project = workdir / f"rows-{rows}"
            shutil.copytree(template, project)
            progress(f"{rows:,} rows: generating raw data")
            generated = generate(project, rows, env)
            progress(f"{rows:,} rows: generated in {generated['seconds']} s, {generated}")
            entry: dict[str, Any] = {"rows": rows, "generate": generated, "metrics": {}}
            base = ["reprokit", "run", "tracking=none", f"data.source.rows={rows}"]
            for name, extra in (("pandas", []), ("dask", dask_overrides)):
                progress(f"{rows:,} rows: {name} engine")
                entry[name] = asdict(measure([*base, *extra], project, env))
                entry["metrics"][name] = metrics(project)
                progress(
                    f"{rows:,} rows: {name} {entry[name]['seconds']} s, peak "
                    f"{entry[name]['tree_peak_mib']} MiB (load {entry[name]['load_before']})"
                )
            entry["ratio_dask_over_pandas"] = {
                "seconds": round(entry["dask"]["seconds"] / entry["pandas"]["seconds"], 3),
                "tree_peak": round(
                    entry["dask"]["tree_peak_mib"] / entry["pandas"]["tree_peak_mib"], 3
                ),
                "largest_process_peak": round(
                    max(entry["dask"]["client_peak_mib"], entry["dask"]["worker_peak_mib"])
                    / entry["pandas"]["client_peak_mib"],
                    3,
                ),
            }
            entry["created"] = datetime.now(UTC).isoformat(timespec="seconds")
            report["sizes"].append(entry)
            report["sizes"].sort(key=lambda item: int(item["rows"]))
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            if not args.keep:
                shutil.rmtree(project, ignore_errors=True)
            print(table(report["sizes"]), flush=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
