"""The test helper that reads which stages DVC ran."""

from __future__ import annotations

from tests.support.dvc import ran_stages

DVC_OUTPUT = """\
Stage 'data' didn't change, skipping
Running stage 'train':
> reprokit stage train
Running stage 'my_extra_stage':
> python extra.py
Data and pipelines are up to date.
"""


def test_ran_stages_reads_every_running_stage_line_including_unlisted_ones() -> None:
    assert ran_stages(DVC_OUTPUT) == {"train", "my_extra_stage"}


def test_ran_stages_of_a_no_op_is_empty() -> None:
    no_op = "Stage 'data' didn't change, skipping\nData and pipelines are up to date.\n"
    assert ran_stages(no_op) == set()
