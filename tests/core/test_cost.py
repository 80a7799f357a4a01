"""What a stage costs (reprokit.core.cost): the pure arithmetic and names, and one real
measurement of this process."""

from __future__ import annotations

import hashlib

import pytest

from reprokit.core.cost import (
    CostMeter,
    StageCost,
    Usage,
    cost_between,
    cost_metrics,
    cost_table,
    process_age,
    record_costs,
    run_cost,
    stage_costs,
    total_cost,
)
from reprokit.core.names import is_result_metric

TRAIN = StageCost(wall_s=12.5, cpu_s=20.25, peak_rss_mb=900.0)
PREPARE = StageCost(wall_s=2.0, cpu_s=1.5, peak_rss_mb=300.0)


def test_cost_between_two_readings_rounds_and_takes_the_peak_at_the_end() -> None:
    start = Usage(wall=100.0, cpu=3.0, peak_rss_bytes=10 * 1024 * 1024)
    end = Usage(wall=102.12345, cpu=5.55555, peak_rss_bytes=256 * 1024 * 1024)
    assert cost_between(start, end) == StageCost(wall_s=2.123, cpu_s=2.556, peak_rss_mb=256.0)


def test_process_age_reads_starttime_after_a_command_name_with_spaces_and_parens() -> None:
    # Field 22 (starttime) is the 20th after ") "; 250 ticks at 100 Hz = 2.5 s after boot.
    after_name = ["S", *["0"] * 18, "250", "0"]
    stat = "4242 (odd) name (x)) " + " ".join(after_name)
    assert process_age(stat, "12.75 99.0\n", 100) == 10.25
    assert process_age("garbage", "12.75 99.0", 100) is None


def test_a_run_total_adds_cpu_and_wall_and_keeps_the_largest_peak() -> None:
    assert total_cost([PREPARE, TRAIN]) == StageCost(wall_s=14.5, cpu_s=21.75, peak_rss_mb=900.0)
    assert total_cost([]) is None


def test_metrics_per_stage_and_total_read_back_as_they_were_logged() -> None:
    metrics = cost_metrics({"prepare": PREPARE, "prepare+train": TRAIN})
    assert metrics["cost.prepare.cpu_s"] == 1.5
    assert metrics["cost.prepare_train.peak_rss_mb"] == 900.0  # MLflow refuses "+"
    assert metrics["cost.wall_s"] == 14.5
    assert run_cost(metrics) == total_cost([PREPARE, TRAIN])
    assert stage_costs({**metrics, "roc_auc": 0.8}) == {"prepare": PREPARE, "prepare_train": TRAIN}
    assert run_cost({"roc_auc": 0.8}) is None  # a run of an older reprokit


def test_costs_are_never_a_result() -> None:
    assert not any(is_result_metric(name) for name in cost_metrics({"train": TRAIN}))
    assert not is_result_metric("time.train_s")
    assert is_result_metric("roc_auc")


def test_records_without_a_readable_cost_are_skipped() -> None:
    records = {
        "prepare": {"cost": PREPARE.as_dict()},
        "old": {"seconds": 1.0},
        "odd": {"cost": {"cpu_s": "x", "wall_s": 1, "peak_rss_mb": 1}},
    }
    assert record_costs(records) == {"prepare": PREPARE}


def test_the_table_has_a_row_per_stage_and_a_total() -> None:
    lines = cost_table({"prepare": PREPARE, "train": TRAIN})
    assert lines[0].split() == ["stage", "cpu", "s", "wall", "s", "cpu/wall", "peak", "MiB"]
    assert lines[2].split() == ["train", "20.25", "12.50", "1.62", "900"]
    assert lines[3].split() == ["total", "21.75", "14.50", "1.50", "900"]


def test_a_meter_counts_this_process_cpu_and_wall() -> None:
    meter = CostMeter.begin()
    digest = b""
    for _ in range(20_000):
        digest = hashlib.sha256(digest * 8).digest()
    cost = meter.cost()
    assert cost.cpu_s > 0
    assert cost.wall_s >= cost.cpu_s * 0.5  # one thread: CPU cannot much exceed wall
    assert cost.peak_rss_mb > 10  # a Python process with pytest loaded


def test_a_recorded_execution_carries_its_cost() -> None:
    from reprokit.tracking.recorder import ExecutionRecorder

    recorder = ExecutionRecorder(["prepare"], set())
    recorder.start()
    recorder.failed(RuntimeError("boom"))  # a failed stage's record says what it cost too
    assert record_costs({"prepare": recorder.record.as_dict()})["prepare"].peak_rss_mb > 10


def test_the_logging_process_adds_its_own_cost_only_when_it_ran_no_execution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reprokit.core import cost
    from reprokit.tracking.cost import LOGGING_STAGE, execution_costs

    records = {"train": {"cost": TRAIN.as_dict()}}
    monkeypatch.setitem(cost._PROCESS_CLAIMED, "start", False)  # the `track` stage's process
    assert set(execution_costs(records)) == {"train", LOGGING_STAGE}
    CostMeter.begin()  # `reprokit run`: the process measured its own execution
    assert set(execution_costs(records)) == {"train"}
