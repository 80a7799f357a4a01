"""Names that several layers must spell the same way: one home each.

A tag written by tracking and read by packaging, lineage or the CLI, a registry alias set
by the promotion rule and resolved by serving and monitoring, the generated config file
every entry point reads. A copy per module drifted apart once; these are the only ones.

Tag keys are short on purpose. MLflow's run page shows a tag chip whole up to 30 characters
of key and value; beyond, it cuts the longer of the two, and when both are longer than 15 it
cuts both and the key shrinks to its first letters ("reproki…: 853522…"). So every tag whose
value can be long (hashes, reasons, file names) has a key of at most 15 characters
(`MAX_LONG_VALUE_KEY`). Keys under a family prefix (`rk.md5.<dataset>`, `rk.sha.<output>`)
stay within it for names of up to 8 characters only.
"""

from __future__ import annotations

import re

# reprokit's namespace: every MLflow tag reprokit writes starts with it, so a user's own tags
# (any key not starting with `rk.`) cannot collide with ours.
TAG_PREFIX = "rk."
# The prefix before it: runs recorded with it are recognised only to say why they cannot be read.
LEGACY_TAG_PREFIX = "reprokit."
# The longest key that MLflow's run page never cuts, whatever the value's length.
MAX_LONG_VALUE_KEY = 15

# --- run tags: identity (tracking.store writes them when the run starts) ------------------
PROJECT_TAG = f"{TAG_PREFIX}project"
FINGERPRINT_TAG = f"{TAG_PREFIX}fingerprint"
CONFIG_HASH_TAG = f"{TAG_PREFIX}config_hash"
CODE_HASH_TAG = f"{TAG_PREFIX}code_hash"
LOCK_HASH_TAG = f"{TAG_PREFIX}lock_hash"
ENTRY_POINT_TAG = f"{TAG_PREFIX}entry_point"
OVERRIDES_TAG = f"{TAG_PREFIX}overrides"
HOST_TAG = f"{TAG_PREFIX}host"
PID_TAG = f"{TAG_PREFIX}pid"
GIT_COMMIT_TAG = f"{TAG_PREFIX}git_commit"
GIT_DIRTY_TAG = f"{TAG_PREFIX}git_dirty"
DVC_EXPERIMENT_TAG = f"{TAG_PREFIX}dvc_exp"  # links `dvc exp show` and the MLflow run
# `rk.md5.<dataset>`: DVC's md5 of each input dataset the fingerprint covers.
DATA_MD5_TAG = f"{TAG_PREFIX}md5."
# `rk.version.<package>`: the installed version of each recorded package.
VERSION_TAG = f"{TAG_PREFIX}version."
# `rk.env.<fact>`: what could change the bytes on another machine (reprokit.core.environment).
ENV_TAG = f"{TAG_PREFIX}env."

# --- run tags: what the run produced ------------------------------------------------------
MODEL_TAG = f"{TAG_PREFIX}model"  # where the run's model came from, in words
QUALITY_GATE_TAG = f"{TAG_PREFIX}quality_gate"
MODEL_SHA256_TAG = f"{TAG_PREFIX}model_sha256"
# `rk.sha.<output>`: the sha256 of each other file the run produced, named by its dataset
# role's short name (`OUTPUT_ROLE_NAMES`), else by the dataset.
OUTPUT_SHA256_TAG = f"{TAG_PREFIX}sha."
TEST_SPLIT_TAG = f"{TAG_PREFIX}test_md5"  # DVC's md5 of the test split the metrics come from
EVALUATION_TAG = f"{TAG_PREFIX}eval_hash"  # the evaluation config that shaped the metrics
MODEL_VERSION_TAG = f"{TAG_PREFIX}model_version"
ERROR_TAG = f"{TAG_PREFIX}error"
FAILED_STAGE_TAG = f"{TAG_PREFIX}failed_stage"
STATUS_NOTE_TAG = f"{TAG_PREFIX}status_note"
# Short names of the dataset roles (reprokit.config.roles) in `rk.sha.<output>` keys: the
# roles' own names ("reference_profile") would make those keys too long to read.
OUTPUT_ROLE_NAMES = {
    "feature_state": "state",
    "reference_profile": "profile",
    "reference_sample": "sample",
    "test": "test",
    "training_history": "history",
}

# --- run tags: sweeps (reprokit.sweeps.track) and trials (reprokit.sweeps.tune) -----------
SWEEP_ID_TAG = f"{TAG_PREFIX}sweep_id"
SWEEP_ROLE_TAG = f"{TAG_PREFIX}sweep_role"  # "parent" or "job"
SWEEP_JOB_TAG = f"{TAG_PREFIX}sweep_job"
SWEEP_ARGUMENTS_TAG = f"{TAG_PREFIX}sweep_args"
SWEEP_JOBS_TAG = f"{TAG_PREFIX}sweep_jobs"
SWEEP_FAILED_JOBS_TAG = f"{TAG_PREFIX}failed_jobs"
RANK_METRIC_TAG = f"{TAG_PREFIX}rank_metric"
RANK_DIRECTION_TAG = f"{TAG_PREFIX}rank_direction"
REUSED_NODES_TAG = f"{TAG_PREFIX}reused_nodes"
PRUNED_TAG = f"{TAG_PREFIX}pruned"
BEST_JOB_TAG = f"{TAG_PREFIX}best_job"
BEST_RUN_ID_TAG = f"{TAG_PREFIX}best_run_id"
BEST_MODEL_VERSION_TAG = f"{TAG_PREFIX}best_model_version"
OPTUNA_TRIAL_TAG = f"{TAG_PREFIX}optuna_trial"

# --- run tags: monitoring (reprokit.monitoring.reference) and retraining ------------------
DRIFT_STATUS_TAG = f"{TAG_PREFIX}drift_status"  # the last `reprokit monitor` verdict
DRIFT_REPORT_TAG = f"{TAG_PREFIX}drift_report"  # the file name of its report
# `rk.retrain.<field>`: the retraining decision recorded on the pipeline's run.
RETRAIN_TAG = f"{TAG_PREFIX}retrain."

# --- model-version tags (the registry) ----------------------------------------------------
# Versions carry FINGERPRINT_TAG and MODEL_SHA256_TAG too.
RUN_ID_TAG = f"{TAG_PREFIX}run_id"
PROMOTION_REASON_TAG = f"{TAG_PREFIX}promotion"  # why the version became champion
PROMOTION_REFUSED_TAG = f"{TAG_PREFIX}not_promoted"  # why the promotion rule refused it
# Who moved `champion` by hand (`reprokit promote`), when, and from which version.
PROMOTED_BY_TAG = f"{TAG_PREFIX}promoted_by"
PROMOTED_AT_TAG = f"{TAG_PREFIX}promoted_at"
PREVIOUS_CHAMPION_TAG = f"{TAG_PREFIX}previous_champion"

# --- run metrics that are measurements, not results ---------------------------------------
# Never part of a result: no comparison, reproduce verdict, package or ranking reads them.
# `time.<stage>_s`: wall-clock seconds of a stage's nodes (tracking.store).
TIMING_PREFIX = "time."
# `cost.<stage>.<field>` per stage and `cost.<field>` for the whole run (reprokit.core.cost).
COST_PREFIX = "cost."
COST_CPU = "cpu_s"  # CPU seconds, user + system, the process and its children
COST_WALL = "wall_s"  # wall-clock seconds of the stage's process
COST_PEAK_RSS = "peak_rss_mb"  # the process's peak resident memory, MiB
COST_FIELDS = (COST_CPU, COST_WALL, COST_PEAK_RSS)


def cost_metric(field: str, stage: str | None = None) -> str:
    """`cost.<stage>.<field>`, or `cost.<field>` for the run's total. A stage named after
    several pipelines ("prepare+features") keeps the characters MLflow accepts only."""
    if stage is None:
        return f"{COST_PREFIX}{field}"
    return f"{COST_PREFIX}{re.sub(r'[^A-Za-z0-9_./ :-]', '_', stage)}.{field}"


def is_result_metric(name: str) -> bool:
    """Whether a run metric is a result (compared, packaged, ranked) rather than a timing or
    a cost, which differ on every run."""
    return not name.startswith((TIMING_PREFIX, COST_PREFIX))


# MLflow registry aliases: the promotion rule moves CHAMPION; every newly registered
# version gets CHALLENGER.
CHAMPION = "champion"
CHALLENGER = "challenger"
# The composed config (generated by `reprokit config compose`, read by every entry point).
PARAMS_FILE = "params.yaml"
# MLflow model-version tags of a canary rollback (reprokit.serving.canary writes them; serving's
# start-up and `reprokit retrain` read them): ROLLED_BACK_TAG=ROLLED_BACK marks the version,
# ROLLBACK_REASON_TAG says why, ROLLBACK_KEPT_TAG names the BentoML tag served instead.
ROLLED_BACK_TAG = f"{TAG_PREFIX}canary"
ROLLED_BACK = "rolled_back"
ROLLBACK_REASON_TAG = f"{TAG_PREFIX}canary.cause"
ROLLBACK_KEPT_TAG = f"{TAG_PREFIX}canary.kept"


def output_sha256_tag(dataset: str, role: str | None) -> str:
    """The `rk.sha.<output>` key of a produced file: its role's short name when it has a
    role, else the dataset's name; a dataset without a role that happens to be named like
    a role's short name keeps its full `rk.sha256.<dataset>` key so the two cannot collide."""
    if role in OUTPUT_ROLE_NAMES:
        return OUTPUT_SHA256_TAG + OUTPUT_ROLE_NAMES[role]
    if dataset in OUTPUT_ROLE_NAMES.values():
        return f"{TAG_PREFIX}sha256.{dataset}"
    return OUTPUT_SHA256_TAG + dataset


def key_reads_in_full(key: str, value: str) -> bool:
    """Whether MLflow's run page shows `key` uncut next to `value` (its KeyValueTag chip:
    nothing is cut up to 30 characters in all; beyond, the longer of the two is cut, and
    both when the shorter is longer than 15)."""
    if len(key) + len(value) <= 2 * MAX_LONG_VALUE_KEY:
        return True
    return len(key) <= MAX_LONG_VALUE_KEY and len(key) <= len(value)
