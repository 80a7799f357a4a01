"""`reprokit reproduce RUN_ID`: rerun a recorded run and check it gives the same model file
and the same metrics, bit for bit.

The run's composed config and the content hashes of its input data fully determine its
result (the fingerprint's promise), so the rerun needs only those, the code and the lock
file. It happens in a throwaway workspace: the user's working tree, params.yaml, outputs
and tracking store are never written. The input data is found by its recorded md5: the
workspace file if it still has that content, else DVC's cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from reprokit.core.content.code import code_hash
from reprokit.core.content.files import (
    cache_object,
    dvc_cache_dir,
    file_md5,
    file_sha256,
    lock_hash,
)
from reprokit.core.content.fingerprint import compute_fingerprint
from reprokit.core.content.params import canonical_hash, result_config
from reprokit.core.dotted import assign
from reprokit.core.names import PARAMS_FILE
from reprokit.errors import ConfigError, ReprokitError
from reprokit.layout import pipeline_code_files
from reprokit.lineage.environment import (
    byte_environment,
    describe_changes,
    environment_changes,
)
from reprokit.tracking.compare import (
    ABSENT,
    COMPOSED_CONFIG,
    CorruptArtifactError,
    RecordedRun,
    RunError,
    download_artifact,
    flatten_config,
    open_store,
    parse_composed_config,
    project_run,
    show_value,
)

if TYPE_CHECKING:
    from rich.console import Console

    from reprokit.config.models import ReprokitConfig

# What a workspace needs besides params.yaml and the input data: the config tree, the code
# (the stages' code deps, hashed into the fingerprint) and the packaging metadata.
WORKSPACE_FILES = ("conf", "src", "uv.lock", "pyproject.toml")
FINGERPRINT_ARTIFACT = "fingerprint.json"
MODEL_DATASET = "model"
# Inputs and outputs the run's catalog declares by absolute path are redirected here (inside
# the workspace), so the rerun can never read or write the user's files in place.
EXTERNAL_DIR = "external"
Say = Callable[[str], None]


class DataUnavailableError(RunError):
    """An input file with the recorded content hash is neither in the workspace nor in DVC's
    cache."""


class ReproductionError(ReprokitError):
    """The reproduction itself could not be carried out (git worktree, the rerun)."""

    exit_code = 2


# --- locating the input data -----------------------------------------------------------------


@dataclass(frozen=True)
class InputData:
    """An input file of the run, found by its recorded md5."""

    dataset: str
    md5: str
    source: Path  # where a file with that md5 was found
    origin: str  # "workspace" or "DVC cache"


def _resolve(root: Path, declared: str) -> Path:
    path = Path(declared)
    return path if path.is_absolute() else root / path


def locate_input(
    dataset: str, md5: str, declared: str, root: Path, cache_dir: Path | None
) -> InputData:
    """The workspace file if it has the recorded content, else DVC's cache object (verified:
    a cache can be corrupted), else an error saying where it looked and what it found.

    `cache_dir`: DVC's cache folder (`dvc_cache_dir`), None outside a DVC project."""
    workspace_file = _resolve(root, declared)
    current = file_md5(workspace_file) if workspace_file.is_file() else None
    if current == md5:
        return InputData(dataset, md5, workspace_file, "workspace")
    cached = None if cache_dir is None else cache_object(cache_dir, md5)
    cached_md5 = file_md5(cached) if cached is not None and cached.is_file() else None
    if cached is not None and cached_md5 == md5:
        return InputData(dataset, md5, cached, "DVC cache")
    if current is None:
        in_workspace = f"{workspace_file} does not exist"
    else:
        in_workspace = f"{workspace_file} has md5 {current} (the data changed since the run)"
    if cached is None:
        in_cache = f"{root} is in no DVC project, so no DVC cache holds it"
    elif cached_md5 is None:
        in_cache = f"DVC cache object {cached} does not exist"
    else:
        in_cache = f"DVC cache object {cached} is corrupt (md5 {cached_md5})"
    raise DataUnavailableError(
        f"input data {dataset!r} of the run (md5 {md5}) is not available: {in_workspace}; "
        f"{in_cache}. Put a file with that content back (e.g. `dvc checkout` or `dvc pull` with "
        "the dvc.lock or .dvc file of the run's commit) to reproduce this run"
    )


def input_paths(params: Mapping[str, Any], datasets: Mapping[str, str]) -> dict[str, str]:
    """Dataset -> the catalog filepath the run read it from."""
    catalog = params.get("catalog") or {}
    paths: dict[str, str] = {}
    for dataset in datasets:
        filepath = (catalog.get(dataset) or {}).get("filepath")
        if not filepath:
            raise ConfigError(
                f"the run's config declares no `catalog.{dataset}.filepath`, but the run "
                f"recorded input data {dataset!r}"
            )
        paths[dataset] = str(filepath)
    return paths


def locate_inputs(run: RecordedRun, params: Mapping[str, Any], root: Path) -> list[InputData]:
    hashes = run.data_hashes
    cache_dir = dvc_cache_dir(root)
    return [
        locate_input(dataset, hashes[dataset], declared, root, cache_dir)
        for dataset, declared in input_paths(params, hashes).items()
    ]


# --- what was recorded -----------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """The run's artifacts that the reproduction needs, downloaded."""

    params: dict[str, Any]
    model: Path
    metrics: Path


def artifact_path(params: Mapping[str, Any], dataset: str) -> str:
    """The artifact path under which the store logs a catalog file: `<dataset>/<file name>`."""
    filepath = ((params.get("catalog") or {}).get(dataset) or {}).get("filepath")
    if not filepath:
        raise ConfigError(f"the run's config declares no `catalog.{dataset}.filepath`")
    return f"{dataset}/{Path(str(filepath)).name}"


def metrics_dataset(params: Mapping[str, Any]) -> str:
    return str((params.get("tracking") or {}).get("metrics") or "metrics")


def check_finished(run: RecordedRun) -> None:
    if run.status != "FINISHED":
        raise RunError(
            f"run {run.run_id} is {run.status}: only a FINISHED run has a model and metrics "
            "to compare"
        )
    if run.tag("model_sha256") is None:
        raise RunError(f"run {run.run_id} recorded no model (no tag `reprokit.model_sha256`)")


def check_model_artifact(run: RecordedRun, model: Path) -> None:
    """A model artifact that differs from its recorded hash cannot be a reference."""
    recorded, actual = run.tag("model_sha256"), file_sha256(model)
    if actual != recorded:
        raise CorruptArtifactError(
            f"the model artifact of run {run.run_id} is corrupt: its sha256 is {actual}, the "
            f"run recorded {recorded} (tag reprokit.model_sha256)"
        )


def check_fingerprint_artifact(run: RecordedRun, path: Path) -> None:
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("value")
    except (ValueError, AttributeError):
        value = None
    if value != run.tag("fingerprint"):
        raise CorruptArtifactError(
            f"{FINGERPRINT_ARTIFACT} of run {run.run_id} does not hold the run's fingerprint "
            f"{run.tag('fingerprint')} (found {value!r})"
        )


def download_recorded(client: Any, run: RecordedRun, destination: Path) -> Recorded:
    run_id = run.run_id
    config_file = download_artifact(client, run_id, COMPOSED_CONFIG, destination)
    params = parse_composed_config(config_file.read_text(encoding="utf-8"), run_id)
    fingerprint = download_artifact(client, run_id, FINGERPRINT_ARTIFACT, destination)
    check_fingerprint_artifact(run, fingerprint)
    return Recorded(
        params=params,
        model=download_artifact(client, run_id, artifact_path(params, MODEL_DATASET), destination),
        metrics=download_artifact(
            client, run_id, artifact_path(params, metrics_dataset(params)), destination
        ),
    )


# --- notes made before the rerun -------------------------------------------------------------


def validated(params: Mapping[str, Any], run_id: str) -> ReprokitConfig:
    from reprokit.config.compose import validate

    try:
        return validate(params, lambda _key: f"{COMPOSED_CONFIG} of run {run_id}")
    except ConfigError as error:
        raise ConfigError(
            f"the run's config does not validate with the current code ({error}); "
            "`reprokit reproduce --at-commit` reruns it with the code it ran with"
        ) from None


def current_code_hash(config: ReprokitConfig, root: Path) -> str:
    """The code hash exactly as the fingerprint computes it, for the code under `root`."""
    return code_hash(root, pipeline_code_files(config, root))


def environment_note(run: RecordedRun) -> str:
    """Whether this machine could compute other bytes than the run's (CPU, SIMD, BLAS...)."""
    recorded = run.environment
    if not recorded:
        return "environment: the run recorded none (recorded before reprokit.env.* tags)"
    current = byte_environment()
    changes = environment_changes(recorded, current)
    if not changes:
        return f"environment: same as the run's (environment hash {current['hash']})"
    return f"environment: differs from the run's: {describe_changes(changes)}"


def _short(value: str | None) -> str:
    return (value or "unknown")[:12]


def notes_before(
    run: RecordedRun, params: Mapping[str, Any], config: ReprokitConfig | None, root: Path
) -> list[str]:
    """What differs between the run and the code and lock file here, said up front."""
    notes = []
    if canonical_hash(result_config(params)) != run.tag("config_hash"):
        notes.append(
            f"warning: {COMPOSED_CONFIG} does not hash to the run's config hash "
            f"{_short(run.tag('config_hash'))}: the artifact may have been altered"
        )
    if config is not None:
        code = current_code_hash(config, root)
        if code == run.tag("code_hash"):
            notes.append(f"code: same as the run's (code hash {_short(code)})")
        else:
            notes.append(
                f"code: the current code differs from the run's (code hash {_short(code)}, "
                f"recorded {_short(run.tag('code_hash'))})"
            )
    notes.append(environment_note(run))
    lock = lock_hash(root)
    if lock == run.tag("lock_hash"):
        notes.append(f"uv.lock: same as the run's (hash {_short(lock)})")
    else:
        notes.append(
            f"uv.lock: differs from the run's (hash {_short(lock)}, recorded "
            f"{_short(run.tag('lock_hash'))}): package versions may differ"
        )
    return notes


# --- the isolated workspace ------------------------------------------------------------------


def rerun_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The run's config as the rerun uses it: tracking and serving off (a reproduction is not
    a new run; neither is part of the fingerprint) and absolute catalog paths moved inside the
    workspace (the user's files must not be read or written in place)."""
    import copy

    rerun = copy.deepcopy(dict(params))
    assign(rerun, "tracking.enabled", False)
    # Nor a new BentoML model; only where the run's config has the section (older code
    # rejects unknown keys).
    if isinstance(rerun.get("serving"), dict):
        assign(rerun, "serving.enabled", False)
    for dataset, entry in (rerun.get("catalog") or {}).items():
        filepath = entry.get("filepath") if isinstance(entry, dict) else None
        if filepath and Path(str(filepath)).is_absolute():
            entry["filepath"] = f"{EXTERNAL_DIR}/{dataset}/{Path(str(filepath)).name}"
    return rerun


def copy_sources(source_root: Path, workspace: Path) -> None:
    for name in WORKSPACE_FILES:
        source, target = source_root / name, workspace / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy2(source, target)


def build_workspace(
    source_root: Path, workspace: Path, params: Mapping[str, Any], inputs: list[InputData]
) -> dict[str, Path]:
    """Sources, params.yaml and the input data in `workspace`; returns dataset -> placed file."""
    workspace.mkdir(parents=True)
    copy_sources(source_root, workspace)
    text = yaml.safe_dump(params, sort_keys=False, allow_unicode=True)
    (workspace / PARAMS_FILE).write_text(text, encoding="utf-8")
    placed = input_paths(params, {item.dataset: item.md5 for item in inputs})
    files = {}
    for item in inputs:
        target = workspace / placed[item.dataset]
        target.parent.mkdir(parents=True, exist_ok=True)
        # A copy, not a link: a faulty node must not be able to alter the cache or the user's file.
        shutil.copyfile(item.source, target)
        files[item.dataset] = target
    return files


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise ReproductionError(
            f"`git {' '.join(args)}` failed in {root}: {result.stderr.strip() or result.stdout}"
        )
    return result.stdout.strip()


@contextmanager
def commit_checkout(root: Path, commit: str, scratch: Path) -> Iterator[Path]:
    """The project folder as of `commit`, in a temporary git worktree removed afterwards."""
    prefix = _git(root, "rev-parse", "--show-prefix")  # the project's folder in the repo
    worktree = scratch / "worktree"
    try:
        _git(root, "worktree", "add", "--detach", str(worktree), commit)
    except ReproductionError as error:
        raise ReproductionError(
            f"cannot check out commit {commit} (tag reprokit.git_commit) of the run: {error}"
        ) from None
    try:
        yield worktree / prefix
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(worktree)],
            cwd=root,
            capture_output=True,
            check=False,
        )
        shutil.rmtree(worktree, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=root, capture_output=True, check=False)


# --- the rerun -------------------------------------------------------------------------------


def rerun_in_process(workspace: Path) -> None:
    """Every declared pipeline from the workspace's params.yaml, with the code imported here."""
    from reprokit.config.compose import workspace_from_params_file
    from reprokit.runner import run_pipelines

    loaded = workspace_from_params_file(workspace)
    try:
        run_pipelines(loaded.config, loaded.params, loaded.root)
    except Exception as error:
        raise ReproductionError(f"the rerun failed: {type(error).__name__}: {error}") from error


# Runs in a fresh interpreter with the commit's `src/` first on PYTHONPATH. It uses only
# APIs that every commit recording runs has, and refuses to run another copy of reprokit.
RERUN_SCRIPT = """
import sys
from pathlib import Path

import reprokit

root = Path(sys.argv[1]).resolve()
if not Path(reprokit.__file__).resolve().is_relative_to(root / "src"):
    sys.exit(f"imported reprokit from {reprokit.__file__}, not from {root / 'src'}")
from reprokit.config.compose import load_config, read_params
from reprokit.runner import run_pipelines

run_pipelines(load_config(root), read_params(root), root)
"""


def rerun_in_subprocess(workspace: Path, commit: str) -> None:
    """Every declared pipeline, with the code of the workspace's own `src/` (another commit's
    code cannot be imported into this process, which already runs the current code)."""
    path = [str(workspace / "src"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    result = subprocess.run(
        [sys.executable, "-c", RERUN_SCRIPT, str(workspace)],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-30:])
        raise ReproductionError(
            f"the rerun with the code of commit {commit} failed (exit {result.returncode}):\n{tail}"
        )


# --- the verdict -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    item: str
    recorded: Any
    reproduced: Any

    @property
    def same(self) -> bool:
        return self.recorded is not ABSENT and bool(self.recorded == self.reproduced)


@dataclass
class Reproduction:
    run_id: str
    notes: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return bool(self.checks) and all(check.same for check in self.checks)

    @property
    def differences(self) -> list[str]:
        return [check.item for check in self.checks if not check.same]


def _json_leaves(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    value = json.loads(path.read_text(encoding="utf-8"))
    return flatten_config(value) if isinstance(value, dict) else {"(value)": value}


def output_checks(
    run: RecordedRun, recorded: Recorded, workspace: Path, params: Mapping[str, Any]
) -> list[Check]:
    """Model sha256 against the tag and the artifact; every metric, exactly."""
    catalog = params.get("catalog") or {}
    model = workspace / str(catalog[MODEL_DATASET]["filepath"])
    reproduced_sha = file_sha256(model) if model.is_file() else ABSENT
    checks = [
        Check("model sha256 (tag)", run.tag("model_sha256") or ABSENT, reproduced_sha),
        Check("model sha256 (artifact)", file_sha256(recorded.model), reproduced_sha),
    ]
    metrics_file = workspace / str(catalog[metrics_dataset(params)]["filepath"])
    before, after = _json_leaves(recorded.metrics), _json_leaves(metrics_file)
    for name in sorted(set(before) | set(after)):
        checks.append(Check(f"metric {name}", before.get(name, ABSENT), after.get(name, ABSENT)))
    return checks


def fingerprint_note(
    run: RecordedRun,
    params: Mapping[str, Any],
    config: ReprokitConfig | None,
    workspace: Path,
    files: Mapping[str, Path],
) -> str | None:
    """The fingerprint of what the rerun ran with: the run's config and data, the
    workspace's code and lock file."""
    if config is None:
        return None
    value = compute_fingerprint(
        params, workspace, files, pipeline_code_files(config, workspace)
    ).value
    if value == run.tag("fingerprint"):
        return f"fingerprint: the rerun's inputs have the run's fingerprint {_short(value)}"
    return (
        f"fingerprint: the rerun's inputs have fingerprint {_short(value)}, the run "
        f"{_short(run.tag('fingerprint'))} (code or lock file differ, see above)"
    )


def recorded_commit(root: Path, run: RecordedRun) -> str:
    """The run's git commit, checked before anything expensive happens."""
    commit = run.tag("git_commit")
    if not commit or commit == "unknown":
        raise ReproductionError(
            f"run {run.run_id} recorded no git commit (tag reprokit.git_commit): "
            "--at-commit needs one"
        )
    try:
        _git(root, "cat-file", "-e", f"{commit}^{{commit}}")
    except ReproductionError as error:
        raise ReproductionError(
            f"commit {commit} of run {run.run_id} (tag reprokit.git_commit) is not in the git "
            f"repository at {root}; fetch it, or reproduce without --at-commit ({error})"
        ) from None
    return commit


def commit_note(run: RecordedRun, commit: str) -> str:
    note = f"code: reproducing with the code of commit {commit[:12]} (--at-commit)"
    if run.tag("git_dirty") == "true":
        note += (
            "; warning: the run was recorded with uncommitted changes, so the commit's code "
            "may not be the code that ran"
        )
    return note


def config_for_notes(
    params: Mapping[str, Any], run_id: str, at_commit: bool
) -> ReprokitConfig | None:
    """The run's config validated by the current code; None when only the commit's code
    accepts it (--at-commit then reruns it, without the code-hash notes)."""
    try:
        return validated(params, run_id)
    except ConfigError:
        if not at_commit:
            raise
        return None


def reproduce_run(
    root: Path,
    run_id: str,
    *,
    at_commit: bool = False,
    keep_workspace: bool = False,
    say: Say = print,
) -> Reproduction:
    """Rerun `run_id` in a temporary workspace and compare its model and metrics."""
    client, project_config = open_store(root)
    run = project_run(client, run_id, project_config.project.name)
    check_finished(run)
    commit = recorded_commit(root, run) if at_commit else None
    scratch = Path(tempfile.mkdtemp(prefix="reprokit-reproduce-"))
    try:
        return _reproduce(client, run, root, commit=commit, scratch=scratch, say=say)
    finally:
        if keep_workspace:
            say(f"workspace kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def _reproduce(
    client: Any, run: RecordedRun, root: Path, *, commit: str | None, scratch: Path, say: Say
) -> Reproduction:
    recorded = download_recorded(client, run, scratch / "recorded")
    check_model_artifact(run, recorded.model)
    params = recorded.params
    inputs = locate_inputs(run, params, root)
    config = config_for_notes(params, run.run_id, at_commit=commit is not None)
    result = Reproduction(run_id=run.run_id)

    def note(text: str) -> None:
        result.notes.append(text)
        say(text)

    for text in notes_before(run, params, config, root):
        note(text)
    for item in inputs:
        note(f"data {item.dataset}: md5 {item.md5} from the {item.origin} ({item.source})")
    if commit is not None:
        note(commit_note(run, commit))
    workspace, rerun = scratch / "workspace", rerun_params(params)
    if commit is not None:
        with commit_checkout(root, commit, scratch) as source_root:
            files = build_workspace(source_root, workspace, rerun, inputs)
    else:
        files = build_workspace(root, workspace, rerun, inputs)
    fingerprint = fingerprint_note(run, params, config, workspace, files)
    if fingerprint:
        note(fingerprint)
    say(f"rerunning run {run.run_id} in {workspace}")
    if commit is not None:
        rerun_in_subprocess(workspace, commit)
    else:
        rerun_in_process(workspace)
    result.checks = output_checks(run, recorded, workspace, rerun)
    return result


def render_reproduction(result: Reproduction, out: Console) -> None:
    from rich.table import Table

    table = Table(title=f"reproduction of run {result.run_id}")
    table.add_column("item")
    table.add_column("recorded", overflow="fold")
    table.add_column("reproduced", overflow="fold")
    table.add_column("same?")
    for check in result.checks:
        table.add_row(
            check.item,
            show_value(check.recorded),
            show_value(check.reproduced),
            "yes" if check.same else "NO",
        )
    out.print(table)
    if result.identical:
        out.print("IDENTICAL")
        return
    out.print(f"DIFFERENT: {', '.join(result.differences) or 'nothing was compared'}")
    # Name the machine's part in a difference rather than leave the user to guess.
    environment = [note for note in result.notes if note.startswith("environment: differs")]
    for note in environment:
        out.print(f"this machine {note[len('environment: ') :]}")


# --- sweeps ------------------------------------------------------------------------------------

SWEEP_ROLE_TAG = "sweep_role"


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
    from reprokit.tracking.compare import recorded_run

    sweep_id = parent.tag("sweep_id")
    runs = client.search_runs(
        [client.get_run(parent.run_id).info.experiment_id],
        filter_string=(
            f"tags.`reprokit.sweep_id` = '{sweep_id}' and tags.`reprokit.{SWEEP_ROLE_TAG}` = 'job'"
        ),
        max_results=10000,
    )
    jobs = [recorded_run(run) for run in runs]
    return sorted(jobs, key=lambda run: int(run.tag("sweep_job") or 0))


def reproduce_sweep(
    root: Path, parent: RecordedRun, *, at_commit: bool, keep_workspace: bool, say: Say
) -> SweepReproduction:
    client, _ = open_store(root)
    result = SweepReproduction(str(parent.tag("sweep_id")), parent.run_id)
    jobs = sweep_job_runs(client, parent)
    if not jobs:
        raise RunError(f"sweep run {parent.run_id} has no job runs in {client.tracking_uri}")
    for job in jobs:
        label = f"job {job.tag('sweep_job')} (run {job.run_id})"
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
    from reprokit.tracking.compare import fetch_run

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
