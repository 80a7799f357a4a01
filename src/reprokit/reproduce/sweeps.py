"""A sweep reproduced: every finished job of its parent run, each like a single run; and
`reprokit reproduce`, which takes either."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprokit.core.names import SWEEP_ID_TAG, SWEEP_JOB_TAG, SWEEP_ROLE_TAG
from reprokit.reproduce.run import Say, reproduce_run
from reprokit.reproduce.verdict import Reproduction, render_reproduction
from reprokit.tracking.runs import RecordedRun, RunError, open_store

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class SweepReproduction:
    """Every job of a sweep rerun and verified like a single run."""

    sweep_id: str
    parent_run_id: str
    results: list[Reproduction] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # jobs that did not finish

    @property
    def identical(self) -> bool:
        return bool(self.results) and all(result.identical for result in self.results)


def sweep_job_runs(client: Any, parent: RecordedRun) -> list[RecordedRun]:
    """The job runs of a sweep's parent run, in job order."""
    from reprokit.tracking.runs import recorded_run

    sweep_id = parent.tag(SWEEP_ID_TAG)
    runs = client.search_runs(
        [client.get_run(parent.run_id).info.experiment_id],
        filter_string=(f"tags.`{SWEEP_ID_TAG}` = '{sweep_id}' and tags.`{SWEEP_ROLE_TAG}` = 'job'"),
        max_results=10000,
    )
    jobs = [recorded_run(run) for run in runs]
    return sorted(jobs, key=lambda run: int(run.tag(SWEEP_JOB_TAG) or 0))


def reproduce_sweep(
    root: Path, parent: RecordedRun, *, at_commit: bool, keep_workspace: bool, say: Say
) -> SweepReproduction:
    client, _ = open_store(root)
    result = SweepReproduction(str(parent.tag(SWEEP_ID_TAG)), parent.run_id)
    jobs = sweep_job_runs(client, parent)
    if not jobs:
        raise RunError(f"sweep run {parent.run_id} has no job runs in {client.tracking_uri}")
    for job in jobs:
        label = f"job {job.tag(SWEEP_JOB_TAG)} (run {job.run_id})"
        if job.status != "FINISHED":
            result.skipped.append(f"{label}: {job.status}, nothing to compare")
            say(f"skipping {label}: it is {job.status}")
            continue
        say(f"--- {label}")
        result.results.append(
            reproduce_run(
                root, job.run_id, at_commit=at_commit, keep_workspace=keep_workspace, say=say
            )
        )
    return result


def reproduce_any(
    root: Path, run_id: str, *, at_commit: bool, keep_workspace: bool, say: Say, out: Console
) -> bool:
    """`reprokit reproduce`: one run, or every job of a sweep when given its parent run."""
    from reprokit.tracking.runs import fetch_run

    client, _ = open_store(root)
    run = fetch_run(client, run_id)
    if run.tag(SWEEP_ROLE_TAG) != "parent":
        single = reproduce_run(
            root, run_id, at_commit=at_commit, keep_workspace=keep_workspace, say=say
        )
        render_reproduction(single, out)
        return single.identical
    sweep = reproduce_sweep(root, run, at_commit=at_commit, keep_workspace=keep_workspace, say=say)
    for reproduction in sweep.results:
        render_reproduction(reproduction, out)
    for note in sweep.skipped:
        out.print(f"skipped {note}")
    different = [r.run_id for r in sweep.results if not r.identical]
    verdict = "IDENTICAL" if sweep.identical else f"DIFFERENT: runs {different}"
    out.print(
        f"sweep {sweep.sweep_id}: {len(sweep.results)} jobs reproduced, "
        f"{len(sweep.skipped)} skipped: {verdict}"
    )
    return sweep.identical
