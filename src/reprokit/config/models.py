"""Typed models of the composed config. Unknown keys and wrong types are rejected.

Nodes parse their own params section with these models, so this module imports nothing
from kedro, mlflow or bentoml (layering: nodes and schemas stay free of the framework).
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from reprokit.config.engines import check_engine_kind
from reprokit.config.read import ReadOptions
from reprokit.config.roles import role_problems
from reprokit.config.sources import DataSource, parse_source

Task = Literal["binary", "multiclass", "regression"]

CLASSIFICATION_METRICS = ("roc_auc", "log_loss", "f1", "precision", "recall", "accuracy")
MULTICLASS_METRICS = ("log_loss", "accuracy", "macro_f1", "weighted_f1", "roc_auc_ovr")
REGRESSION_METRICS = ("rmse", "mae", "r2")
METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "binary": CLASSIFICATION_METRICS,
    "multiclass": MULTICLASS_METRICS,
    "regression": REGRESSION_METRICS,
}
# The metrics of METRICS_BY_TASK that are better when lower.
MINIMIZED_METRICS = frozenset({"log_loss", "rmse", "mae"})


# Project and dataset names make the BentoML model's name (`<project>-<data>`, a BentoML tag
# name) and the registered model's: lowercase letters, digits and `-_.` inside.
TAG_SAFE_NAME = r"^[a-z0-9]([-._a-z0-9]*[a-z0-9])?$"


class StrictModel(BaseModel):
    """Base: frozen, rejects unknown keys (the message names the allowed ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- data -------------------------------------------------------------------------------


class ColumnSpec(StrictModel):
    """One column of a declared schema (our small declarative form, built into Pandera).

    `allow_infinite`: +inf/-inf pass a float column (rejected by default: they are rarely
    data, and no JSON artifact can hold them)."""

    dtype: str
    nullable: bool = False
    unique: bool = False
    coerce: bool = False
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    isin: list[Any] | None = None
    # Left out of dumps while False: the reference profile embeds the schema, and its bytes
    # (a DVC out) must not change for schemas that do not use the key.
    allow_infinite: bool = Field(default=False, exclude_if=lambda allowed: not allowed)


class SchemaSpec(StrictModel):
    """A table schema. `strict`: True rejects extra columns, "filter" drops them."""

    strict: bool | Literal["filter"] = True
    columns: dict[str, ColumnSpec] = Field(min_length=1)


class SourceConfig(BaseModel):
    """`data.source`: `kind` names a registered source (reprokit.config.sources); the other
    keys are that source's, validated by its `DataSource` model."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str

    @model_validator(mode="after")
    def _keys_fit_the_kind(self) -> SourceConfig:
        parse_source(self.model_dump())
        return self

    def parsed(self) -> DataSource:
        """The source as its kind's `DataSource` (keys validated)."""
        return parse_source(self.model_dump())


class DataConfig(StrictModel):
    name: str = Field(pattern=TAG_SAFE_NAME, max_length=22)
    task: Task
    target: str
    id_column: str | None = None
    timestamp_column: str | None = None
    group_column: str | None = None
    path: str
    source: SourceConfig
    read: ReadOptions = ReadOptions()
    schema_: SchemaSpec = Field(alias="schema")

    @model_validator(mode="after")
    def _roles_are_schema_columns(self) -> DataConfig:
        roles = {
            "target": self.target,
            "id_column": self.id_column,
            "timestamp_column": self.timestamp_column,
            "group_column": self.group_column,
        }
        columns = self.schema_.columns
        for role, column in roles.items():
            if column is not None and column not in columns:
                raise ValueError(
                    f"data.{role} is {column!r}, which is not a column of data.schema "
                    f"(columns: {sorted(columns)})"
                )
        if not self.path.endswith((".csv", ".parquet")):
            raise ValueError(f"data.path must end in .csv or .parquet, got {self.path!r}")
        return self

    @property
    def reserved_columns(self) -> list[str]:
        """Columns that are never features: the target and the role columns."""
        roles = [self.target, self.id_column, self.timestamp_column, self.group_column]
        return [column for column in roles if column is not None]


# Table datasets read files with `data.read` (reprokit.io.read_table), not pandas arguments.
TABLE_DATASETS = (
    "reprokit.datasets.TableDataset",
    "reprokit.engines.dask.datasets.DaskTableDataset",
)


def load_args_problems(catalog: dict[str, dict[str, Any]]) -> list[str]:
    """`load_args` on a table dataset: read options live in `data.read`, so that every entry
    point (dvc repro, reprokit run, predict, monitor) reads a file the same way."""
    return [
        f"catalog.{name}.load_args is not supported: declare how the file is read in "
        f"data.read ({', '.join(ReadOptions.model_fields)})"
        for name, entry in catalog.items()
        if entry.get("type") in TABLE_DATASETS and "load_args" in entry
    ]


def read_problems(catalog: dict[str, dict[str, Any]]) -> list[str]:
    """Table datasets' `read` entries (normally `${data.read}`) whose keys are no read options."""
    problems: list[str] = []
    for name, entry in catalog.items():
        read = entry.get("read") if entry.get("type") in TABLE_DATASETS else None
        if read is None:
            continue
        try:
            ReadOptions.model_validate(read)
        except ValidationError as error:
            problems.extend(
                f"catalog.{name}.read.{'.'.join(map(str, item['loc']))}: {item['msg']}"
                for item in error.errors()
            )
    return problems


# --- features ---------------------------------------------------------------------------


class RatioFeature(StrictModel):
    name: str
    kind: Literal["ratio"]
    numerator: str
    denominator: str


class LogFeature(StrictModel):
    """log1p of a non-negative column (negative values become missing)."""

    name: str
    kind: Literal["log"]
    column: str


DatePart = Literal["year", "month", "day", "dayofweek", "dayofyear", "hour"]


class DatePartsFeature(StrictModel):
    """One feature per part, named `<name>_<part>`."""

    name: str
    kind: Literal["date_parts"]
    column: str
    parts: list[DatePart] = Field(min_length=1)


DerivedFeature = Annotated[
    RatioFeature | LogFeature | DatePartsFeature, Field(discriminator="kind")
]


class FeaturesConfig(StrictModel):
    numeric: Literal["auto"] | list[str] = "auto"
    categorical: Literal["auto"] | list[str] = "auto"
    exclude: list[str] = []
    unseen_category: Literal["other", "error"] = "other"
    min_category_frequency: float = Field(default=0.0, ge=0.0, lt=1.0)
    derived: list[DerivedFeature] = []


# --- split ------------------------------------------------------------------------------


class SplitConfig(StrictModel):
    """stratified: random, stratified on the target for classification (plain random for
    regression); time: newest rows are the test set; group: a group lands in one split."""

    kind: Literal["stratified", "time", "group"]
    test_size: float = Field(gt=0.0, lt=1.0)
    valid_size: float = Field(ge=0.0, lt=1.0)
    column: str | None = None
    seed: int = Field(ge=0)

    @model_validator(mode="after")
    def _sizes_and_column(self) -> SplitConfig:
        if self.test_size + self.valid_size >= 1.0:
            raise ValueError(
                f"split.test_size + split.valid_size must be < 1, got "
                f"{self.test_size} + {self.valid_size}"
            )
        if self.kind in ("time", "group") and not self.column:
            raise ValueError(
                f"split.kind={self.kind} needs split.column (the data has no "
                f"{'timestamp' if self.kind == 'time' else 'group'} column declared)"
            )
        return self


# --- model ------------------------------------------------------------------------------


# The learner is chosen by `model.kind` (reprokit.models' registry). The built-in learners'
# keys are validated here, at the edge, like every other section; a kind a project
# registers itself keeps its own keys (`RegisteredModelConfig`), which its implementation
# validates when it trains.
BUILTIN_MODEL_KINDS = ("lightgbm", "xgboost")
DEFAULT_MODEL_KIND = "lightgbm"


class LightGBMConfig(StrictModel):
    kind: Literal["lightgbm"] = "lightgbm"
    objective: Task
    num_leaves: int = Field(ge=2)
    learning_rate: float = Field(gt=0.0)
    n_estimators: int = Field(ge=1)
    early_stopping_rounds: int = Field(default=50, ge=0)
    min_child_samples: int = Field(default=20, ge=1)
    feature_fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    bagging_fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    bagging_freq: int = Field(default=0, ge=0)
    lambda_l1: float = Field(default=0.0, ge=0.0)
    lambda_l2: float = Field(default=0.0, ge=0.0)
    max_depth: int = -1
    deterministic: bool = True
    histogram: Literal["row_wise", "col_wise"] = "row_wise"
    seed: int = Field(ge=0)


class XGBoostConfig(StrictModel):
    """XGBoost with the histogram tree method (deterministic on CPU for a fixed seed)."""

    kind: Literal["xgboost"]
    objective: Task
    learning_rate: float = Field(gt=0.0)
    n_estimators: int = Field(ge=1)
    early_stopping_rounds: int = Field(default=50, ge=0)
    max_depth: int = Field(default=6, ge=0)
    min_child_weight: float = Field(default=1.0, ge=0.0)
    subsample: float = Field(default=1.0, gt=0.0, le=1.0)
    colsample_bytree: float = Field(default=1.0, gt=0.0, le=1.0)
    reg_alpha: float = Field(default=0.0, ge=0.0)
    reg_lambda: float = Field(default=1.0, ge=0.0)
    max_bin: int = Field(default=256, ge=2)
    # XGBoost does not promise the same trees for every thread count, so the model's
    # config fixes it (engine.num_threads does not apply to XGBoost).
    nthread: int = Field(default=1, ge=1)
    seed: int = Field(ge=0)


class RegisteredModelConfig(BaseModel):
    """A learner a project registered (`reprokit.models.register_model`): its own keys,
    checked by its implementation."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str
    objective: Task


# The model union's branch for a learner of the project's own (tag of a callable discriminator).
REGISTERED_MODEL_TAG = "registered"


def _model_kind(value: Any) -> str:
    kind = value.get("kind", DEFAULT_MODEL_KIND) if isinstance(value, dict) else value.kind
    return kind if kind in BUILTIN_MODEL_KINDS else REGISTERED_MODEL_TAG


ModelConfig = Annotated[
    Annotated[LightGBMConfig, Tag("lightgbm")]
    | Annotated[XGBoostConfig, Tag("xgboost")]
    | Annotated[RegisteredModelConfig, Tag(REGISTERED_MODEL_TAG)],
    Discriminator(_model_kind),
]


# --- evaluation -------------------------------------------------------------------------


class GateBound(StrictModel):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_a_bound(self) -> GateBound:
        if self.min is None and self.max is None:
            raise ValueError("a gate bound needs `min`, `max` or both")
        return self


Gate = dict[str, GateBound]


class EvaluationConfig(StrictModel):
    """`gate`: the bounds this run's metrics must meet. `gates`: bounds per task, for
    conf/evaluation/default.yaml to pick `gate` from by `data.task` (an interpolation), so
    every task has a gate without an evaluation config of its own."""

    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    calibration_bins: int = Field(default=10, ge=2)
    gate: Gate = {}
    gates: dict[Task, Gate] = {}


def gate_problems(evaluation: EvaluationConfig, task: str) -> list[str]:
    """Bounds on metrics their task does not produce: `gate`'s against `task`, each of
    `gates` against its own (a typo in another task's bounds would only surface later)."""
    declared = {"evaluation.gate": (task, evaluation.gate)} | {
        f"evaluation.gates.{name}": (name, gate) for name, gate in evaluation.gates.items()
    }
    problems: list[str] = []
    for key, (name, gate) in declared.items():
        allowed = METRICS_BY_TASK[name]
        unknown = sorted(set(gate) - set(allowed))
        if unknown:
            problems.append(
                f"{key} names {unknown}, which task {name!r} does not produce; "
                f"allowed metrics: {list(allowed)}"
            )
    return problems


# --- pipeline, catalog, tracking, engine -------------------------------------------------


class NodeSpec(StrictModel):
    """A node: `func` is `package.module.function`; `inputs` maps argument -> dataset;
    `params` maps argument -> a dotted params.yaml key; `outputs` names datasets."""

    func: str = Field(pattern=r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")
    inputs: dict[str, str] = {}
    params: dict[str, str] = {}
    outputs: str | list[str] | None = None

    @property
    def output_names(self) -> list[str]:
        if self.outputs is None:
            return []
        return [self.outputs] if isinstance(self.outputs, str) else list(self.outputs)


class PipelineSpec(StrictModel):
    nodes: dict[str, NodeSpec] = Field(min_length=1)
    pipelines: dict[str, list[str]] = Field(min_length=1)


PRIMARY_METRIC: dict[str, tuple[str, Literal["maximize", "minimize"]]] = {
    "binary": ("roc_auc", "maximize"),
    "multiclass": ("log_loss", "minimize"),
    "regression": ("rmse", "minimize"),
}


class PromotionRule(StrictModel):
    """When a newly registered model takes the `champion` alias automatically.

    `metric: null` means the task's primary metric (ROC AUC, multi-class log loss, RMSE).
    `direction: null` means the way the metric improves (log loss, RMSE, MAE: minimize).
    """

    metric: str | None = None
    direction: Literal["maximize", "minimize"] | None = None
    min_improvement: float = Field(default=0.0, ge=0.0)

    def resolved(self, task: str) -> tuple[str, str]:
        default_metric, default_direction = PRIMARY_METRIC[task]
        if self.metric is None:
            return default_metric, self.direction or default_direction
        # A named metric without a direction goes the way that metric improves: losses and
        # errors down (maximizing `rmse` would promote the worse model).
        implied = "minimize" if self.metric in MINIMIZED_METRICS else "maximize"
        return self.metric, self.direction or implied


class RetrainConfig(StrictModel):
    """`reprokit retrain`: how a new labelled batch meets the raw data it retrains on.

    `append`: the batch is added to the raw rows (the schema's `unique` columns must stay
    unique); `replace`: the batch becomes the raw data. `--mode` overrides it per call."""

    mode: Literal["append", "replace"] = "append"


class TrackingConfig(StrictModel):
    """MLflow tracking. `uri` and `artifact_location` are relative to the project root;
    the MLFLOW_TRACKING_URI environment variable overrides `uri`."""

    enabled: bool = False
    uri: str = "sqlite:///mlruns.db"
    artifact_location: str | None = "mlartifacts"
    experiment: str = "reprokit"
    registered_model: str | None = None
    promotion: PromotionRule = PromotionRule()
    # Under `tracking`, whose keys cannot change a run's result: how the data is combined
    # changes the data, and the data's hash is in the fingerprint already.
    retrain: RetrainConfig = RetrainConfig()
    # Catalog datasets logged as MLflow dataset inputs (lineage) and as run artifacts.
    datasets: list[str] = []
    artifacts: list[str] = []
    # The metrics file whose numbers become the run's metrics.
    metrics: str = "metrics"


class ChallengerConfig(StrictModel):
    """A second model next to the champion (read by the service at start-up).

    `split`: callers whose sticky hash falls under `fraction` are answered by the
    challenger. `shadow`: the same callers are answered by the champion and the challenger
    scores their request in the background (metrics and logs only). `none`: no challenger.
    """

    mode: Literal["none", "split", "shadow"] = "none"
    # A BentoML model tag; None: the packaged model whose MLflow registry version holds
    # the `alias` (default `challenger`).
    tag: str | None = None
    alias: str = "challenger"
    fraction: float = Field(default=0.1, ge=0.0, le=1.0)
    # Mixed into the caller hash: a new salt reshuffles which callers see the challenger.
    salt: str = "reprokit"


class CanaryConfig(StrictModel):
    """A new champion ramped in as a canary share of the callers before it serves alone
    (reprokit.serving.canary); off: the refresh swaps the whole model at once.

    The canary serves `steps[0]` of the callers (sticky by the caller hash, `salt`), moves
    to the next step after `hold_s` seconds and at least `min_requests` canary requests,
    and becomes the champion at the last step (1.0). It is rolled back when its error rate
    exceeds `max_error_rate` (over at least `min_requests` requests) or, with
    `rollback_on_drift`, when a drift alarm of its own traffic fires.
    """

    enabled: bool = False
    steps: tuple[float, ...] = (0.05, 0.25, 0.5, 1.0)
    hold_s: float = Field(default=60.0, gt=0.0, allow_inf_nan=False)
    max_error_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    min_requests: int = Field(default=20, ge=1)
    rollback_on_drift: bool = True
    # Its own salt: with the challenger's, a small canary share would fall inside the
    # challenger's callers and never be served.
    salt: str = "reprokit-canary"

    @field_validator("steps")
    @classmethod
    def _ramp_up_to_one(cls, steps: tuple[float, ...]) -> tuple[float, ...]:
        if len(steps) < 2 or steps[-1] != 1.0:
            raise ValueError(
                "must be at least one share below 1.0, then 1.0 (the canary then serves "
                f"alone), got {list(steps)}"
            )
        if any(not 0.0 < share <= 1.0 for share in steps):
            raise ValueError(f"every step must be in (0, 1], got {list(steps)}")
        if any(later <= earlier for earlier, later in itertools.pairwise(steps)):
            raise ValueError(f"must increase strictly, got {list(steps)}")
        return steps


class BatchingConfig(StrictModel):
    """In-process adaptive batching of `Booster.predict` across concurrent requests."""

    enabled: bool = False
    max_batch_size: int = Field(default=2000, ge=1)  # rows per predict call
    max_latency_ms: int = Field(default=20, ge=1)


# Kubernetes quantities as the API accepts them: "500m", "2", "1Gi", "512Mi".
_CPU = Field(pattern=r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$")
_MEMORY = Field(pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")


class ResourceAmounts(StrictModel):
    cpu: str = _CPU
    memory: str = _MEMORY


class AutoscalingConfig(StrictModel):
    """A HorizontalPodAutoscaler on CPU utilisation (relative to the requested CPU)."""

    enabled: bool = True
    min_replicas: int = Field(default=2, ge=1)
    max_replicas: int = Field(default=6, ge=1)
    target_cpu_percent: int = Field(default=70, ge=1, le=100)

    @model_validator(mode="after")
    def _max_covers_min(self) -> AutoscalingConfig:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"autoscaling.max_replicas ({self.max_replicas}) is below min_replicas "
                f"({self.min_replicas})"
            )
        return self


class DeploymentConfig(StrictModel):
    """What `reprokit deploy k8s` generates the Kubernetes manifests from (the image is the
    one `make image` builds; see README "Kubernetes")."""

    image: str = "reprokit:latest"
    # The image's user: BentoML's images run as uid/gid 1034 (`bentoml`). Kubernetes needs it
    # numeric to enforce runAsNonRoot.
    run_as_user: int = Field(default=1034, ge=1)
    namespace: str | None = None
    replicas: int = Field(default=2, ge=1)
    port: int = Field(default=3000, ge=1, le=65535)
    requests: ResourceAmounts = ResourceAmounts(cpu="500m", memory="1Gi")
    limits: ResourceAmounts = ResourceAmounts(cpu="2", memory="2Gi")
    autoscaling: AutoscalingConfig = AutoscalingConfig()
    # A Secret holding the API keys, one per line under the key `keys`; mounted read-only
    # and read through REPROKIT_API_KEYS_FILE (never an environment value in the manifest).
    api_keys_secret: str = "reprokit-api-keys"
    # Namespaces (by their `kubernetes.io/metadata.name`) whose pods may call the service;
    # empty: only pods of its own namespace.
    allow_from_namespaces: list[str] = []


def _duration(default: str) -> Any:
    """A Prometheus duration: "30s", "5m", "1h", "1d"."""
    return Field(default=default, pattern=r"^[0-9]+(s|m|h|d)$")


class AlertsConfig(StrictModel):
    """What `reprokit ops generate` writes the Prometheus rules and scrape config from."""

    job: str = Field(default="reprokit", pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    targets: list[str] = Field(default=["127.0.0.1:3000"], min_length=1)
    scrape_interval: str = _duration("15s")
    evaluation_interval: str = _duration("15s")
    # How long a condition must hold before its alert fires ("0s": at once).
    hold: str = _duration("5m")
    # Rate windows of the recording rules; at least 4 scrape intervals.
    window: str = _duration("5m")
    error_rate: float = Field(default=0.05, gt=0, le=1)  # share of 5xx/504 answers
    rejected_rate: float = Field(default=0.2, gt=0, le=1)  # share of 429 answers
    p99_latency_seconds: float = Field(default=0.5, gt=0)
    # No request observed by the drift window for this long: its gauges are stale.
    stale_after: str = _duration("30m")


class ServingConfig(StrictModel):
    """Whether `dvc repro` packages the trained pipeline as a BentoML model, and how
    `bentoml serve` serves it (A/B, batching) and Kubernetes runs it (deployment)."""

    enabled: bool = False
    challenger: ChallengerConfig = ChallengerConfig()
    batching: BatchingConfig = BatchingConfig()
    canary: CanaryConfig = CanaryConfig()
    deployment: DeploymentConfig = DeploymentConfig()
    alerts: AlertsConfig = AlertsConfig()


class EngineConfig(StrictModel):
    """Where the pipeline runs: `kind` names a registered engine (a Kedro runner, see
    reprokit.engines; a package may register its own). `local`: in-process pandas, LightGBM
    with `num_threads` (0: one per core). `dask`: a Dask cluster, a local one of `n_workers`
    processes or the scheduler at `address`; LightGBM then uses each worker's threads
    (`num_threads` stays for the pipeline's binding). The cluster keys are in the
    fingerprint: distributed LightGBM's model depends on how the data is spread over workers.
    """

    kind: Annotated[str, AfterValidator(check_engine_kind)] = "local"
    num_threads: int = Field(default=0, ge=0)
    address: str | None = None
    n_workers: int = Field(default=2, ge=1)
    threads_per_worker: int = Field(default=1, ge=1)
    # Per worker process, as Dask reads it ("4GiB", "auto"); a worker over it is restarted.
    memory_limit: str = "4GiB"

    @model_validator(mode="after")
    def _cluster_keys_need_dask(self) -> EngineConfig:
        cluster_keys = sorted(self.model_fields_set & set(DASK_ENGINE_KEYS))
        if self.kind != "dask" and cluster_keys:
            raise ValueError(
                f"engine keys {cluster_keys} apply to engine.kind=dask only (this is "
                f"engine.kind={self.kind}); choose the dask engine with `engine=dask`"
            )
        return self


# One model for both kinds (not a union): errors name `engine.<key>` and the allowed keys.
DASK_ENGINE_KEYS = ("address", "n_workers", "threads_per_worker", "memory_limit")


class LiveMonitoringConfig(StrictModel):
    """The service's rolling window of recent request rows (bounded memory)."""

    window: int = Field(default=5000, ge=10)  # rows kept
    min_rows: int = Field(default=500, ge=1)  # no drift verdict on fewer rows
    # Hysteresis: an alarm clears only when the score falls below threshold * clear_ratio.
    clear_ratio: float = Field(default=0.75, gt=0.0, le=1.0)


# Evidently's drift tests that `monitoring.drift` offers (evidently.legacy.calculations.
# stattests): PSI drifts at a score >= threshold; KS and chi-square at a p-value < threshold.
DriftMethod = Literal["psi", "ks", "chisquare"]


class DriftTestConfig(StrictModel):
    """One column's drift test in `reprokit monitor`'s Evidently report."""

    method: DriftMethod
    threshold: float = Field(gt=0.0)


class DriftTestsConfig(StrictModel):
    """The drift test of each column: its entry in `columns`, else the one of its kind
    (`prediction`, when set, for the model's output)."""

    numeric: DriftTestConfig = DriftTestConfig(method="psi", threshold=0.2)
    categorical: DriftTestConfig = DriftTestConfig(method="psi", threshold=0.2)
    prediction: DriftTestConfig | None = None
    columns: dict[str, DriftTestConfig] = {}


class MonitoringConfig(StrictModel):
    """`reprokit monitor` (Evidently's report and tests against the reference sample) and
    the service's live drift gauges (PSI over the reference profile's bins)."""

    bins: int = Field(default=10, ge=2, le=100)
    cdf_points: int = Field(default=200, ge=10, le=10000)
    # Rows of the train split kept as Evidently's reference table (a bounded sample).
    reference_rows: int = Field(default=5000, ge=100, le=1_000_000)
    drift: DriftTestsConfig = DriftTestsConfig()
    psi_threshold: float = Field(default=0.2, gt=0.0)  # the live gauges' alarm
    null_rate_margin: float = Field(default=0.1, gt=0.0, le=1.0)
    new_category_share: float = Field(default=0.01, ge=0.0, le=1.0)
    performance_metrics: list[str] | None = None  # None: the task's primary metric
    performance_margin: float = Field(default=0.05, ge=0.0)  # relative to the reference
    live: LiveMonitoringConfig = LiveMonitoringConfig()


# What Airflow accepts as a DAG's schedule, checked here so a typo fails at compose time and
# not when Airflow parses the DAG: one of its presets or a five-field cron expression.
_AIRFLOW_SCHEDULE = (
    r"^(@(once|continuous|hourly|daily|weekly|monthly|quarterly|yearly)"
    r"|\S+ \S+ \S+ \S+ \S+)$"
)


def _absolute_dir(value: str | None) -> str | None:
    if value is not None and not value.startswith("/"):
        raise ValueError(f"must be an absolute path (or null), got {value!r}")
    return value


class AirflowRetrainConfig(StrictModel):
    """The scheduled retrain DAG: `reprokit retrain --if-drift --current <current>`."""

    schedule: str | None = Field(default="@daily", pattern=_AIRFLOW_SCHEDULE)
    # The newest labelled batch, relative to the project directory (or absolute).
    current: str = Field(default="data/new_batch.parquet", min_length=1)


class AirflowConfig(StrictModel):
    """What `reprokit ops generate` writes the Airflow DAG file (ops/airflow/) from."""

    # The pipeline DAG's schedule; null: it runs when triggered.
    schedule: str | None = Field(default=None, pattern=_AIRFLOW_SCHEDULE)
    retries: int = Field(default=2, ge=0, le=100)
    retry_delay: str = _duration("5m")
    # The project checkout the tasks run in (REPROKIT_PROJECT_DIR on the Airflow worker
    # wins); null: the checkout holding the DAG file (a symlink is followed).
    project_dir: Annotated[str | None, AfterValidator(_absolute_dir)] = None
    retrain: AirflowRetrainConfig = AirflowRetrainConfig()


class OpsConfig(StrictModel):
    """Operations files that `reprokit ops generate` writes beyond `serving.alerts`."""

    airflow: AirflowConfig = AirflowConfig()


# --- feature store ------------------------------------------------------------------------

# Schema dtypes the feature store can hold (reprokit.feature_store.spec maps them to Feast's).
FEATURE_STORE_DTYPES = ("int64", "float64", "str", "bool", "datetime64[ns]")
# The event-time column the `materialize` stage generates for data without a timestamp column
# (Feast needs an event time on every row); a schema column of that name is refused.
GENERATED_EVENT_TIME = "reprokit_event_time"


class FeatureStoreConfig(StrictModel):
    """The Feast feature repo `reprokit features generate` writes (feature_repo/) and the
    `materialize` stage that fills its online store from the pipeline's validated table.

    Flat rather than one model per online store, so a Hydra override switches the store
    (`feature_store.online_store=redis`) without leaving the other store's keys behind."""

    # auto: on when the data has an id column (the entity) and only dtypes the store holds;
    # true: on, and an error naming what is missing. Data without a timestamp column gets a
    # generated event time (row order: an id's last row is its online value).
    enabled: bool | Literal["auto"] = False
    # The catalog dataset (a Parquet file) the feature view reads: the offline store.
    table: str = Field(default="primary", min_length=1)
    online_store: Literal["sqlite", "redis"] = "sqlite"
    # The embedded default: a file inside the project (relative to its root), git-ignored.
    sqlite_path: str = Field(default="data/feature_store/online_store.db", min_length=1)
    # Feast's Redis connection string (`host:port[,password=...]`), the production option.
    redis: str = Field(default="localhost:6379", min_length=1)
    # Point-in-time training sets: a Parquet table of training examples (the data's id and
    # timestamp columns, optionally its target). Set, the `training_set` stage writes
    # `training_set` from it by Feast's historical retrieval; null (the default): no stage.
    training_entities: str | None = Field(default=None, min_length=1)
    training_set: str = Field(default="data/05_model_input/training_set.parquet", min_length=1)


def _event_time_problem(data: DataConfig, store: FeatureStoreConfig) -> str | None:
    """Why data without a timestamp column cannot have this feature store, if it cannot."""
    if data.timestamp_column is not None:
        return None
    if GENERATED_EVENT_TIME in data.schema_.columns:
        return (
            f"data.schema ({data.name}) has a column {GENERATED_EVENT_TIME!r}, the name of the "
            f"event time the feature store generates for data without data.timestamp_column; "
            f"rename that column, or declare data.timestamp_column"
        )
    if store.training_entities is not None:
        # Generated times are row positions, not when anything happened: a point-in-time
        # join over them would be meaningless.
        return (
            f"feature_store.training_entities is set but data.timestamp_column "
            f"({data.name}) is null: point-in-time training sets need each row's real event "
            f"time; declare data.timestamp_column or set feature_store.training_entities to null"
        )
    return None


class ProjectConfig(StrictModel):
    name: str = Field(pattern=TAG_SAFE_NAME, max_length=40)


class ReprokitConfig(StrictModel):
    """The whole composed config: what params.yaml holds."""

    project: ProjectConfig
    seed: int = Field(ge=0)
    data: DataConfig
    features: FeaturesConfig
    split: SplitConfig
    model: ModelConfig
    evaluation: EvaluationConfig
    pipeline: PipelineSpec
    catalog: dict[str, dict[str, Any]]
    tracking: TrackingConfig
    serving: ServingConfig = ServingConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    ops: OpsConfig = OpsConfig()
    feature_store: FeatureStoreConfig = FeatureStoreConfig()
    engine: EngineConfig

    @field_validator("catalog")
    @classmethod
    def _roles_declared_once(cls, catalog: dict[str, dict[str, Any]]) -> dict[str, Any]:
        problems = role_problems(catalog) + load_args_problems(catalog)
        if problems:
            raise ValueError("; ".join(problems))
        return catalog

    @model_validator(mode="after")
    def _consistent_across_groups(self) -> ReprokitConfig:
        if self.model.objective != self.data.task:
            raise ValueError(
                f"model.objective is {self.model.objective!r} but data.task is "
                f"{self.data.task!r}; they must agree"
            )
        problems = gate_problems(self.evaluation, self.data.task) + read_problems(self.catalog)
        if problems:
            raise ValueError("; ".join(problems))
        self._features_use_schema_columns()
        self._tracking_names_exist()
        self._feature_store_table_exists()
        for name, entry in self.catalog.items():
            if "type" not in entry:
                raise ValueError(f"catalog.{name} has no `type` (a Kedro dataset class)")
        return self

    @property
    def feature_store_on(self) -> bool:
        """Whether the feature repo and the `materialize` stage exist for this config."""
        enabled = self.feature_store.enabled
        if enabled == "auto":
            # On wherever it can be built (timestamp or not), so data the store cannot hold
            # still trains and serves records; `true` names what is missing instead.
            return self.data.id_column is not None and not self._unsupported_store_dtypes()
        return bool(enabled)

    def _unsupported_store_dtypes(self) -> dict[str, str]:
        return {
            name: column.dtype
            for name, column in self.data.schema_.columns.items()
            if column.dtype not in FEATURE_STORE_DTYPES and name != self.data.target
        }

    def _feature_store_table_exists(self) -> None:
        store = self.feature_store
        if not self.feature_store_on:
            return
        if self.data.id_column is None:
            raise ValueError(
                f"feature_store.enabled is true but data.id_column ({self.data.name}) is null: "
                f"Feast needs the entity's id; declare it or set feature_store.enabled to auto "
                f"or false"
            )
        problem = _event_time_problem(self.data, store)
        if problem:
            raise ValueError(problem)
        path = str(self.catalog.get(store.table, {}).get("filepath", ""))
        if not path.endswith(".parquet"):
            raise ValueError(
                f"feature_store.table is {store.table!r}, which is not a catalog dataset "
                f"with a .parquet filepath (Feast's file offline store reads Parquet); "
                f"catalog datasets: {sorted(self.catalog)}"
            )
        parquet_keys = ("training_entities", "training_set")
        not_parquet = [k for k in parquet_keys if not str(getattr(store, k)).endswith(".parquet")]
        if store.training_entities is not None and not_parquet:
            raise ValueError(
                f"feature_store.{' and feature_store.'.join(not_parquet)} must be .parquet "
                f"paths (the training set's examples and the table it writes)"
            )
        unsupported = self._unsupported_store_dtypes()
        if unsupported:
            raise ValueError(
                f"feature_store: data.schema columns {unsupported} have dtypes the feature "
                f"store cannot hold; supported: {list(FEATURE_STORE_DTYPES)}"
            )

    def _tracking_names_exist(self) -> None:
        if not self.tracking.enabled:
            return
        named = [*self.tracking.datasets, *self.tracking.artifacts, self.tracking.metrics]
        unknown = sorted(set(named) - set(self.catalog))
        if unknown:
            raise ValueError(f"tracking names datasets {unknown} that the catalog does not declare")
        metric, _ = self.tracking.promotion.resolved(self.data.task)
        if metric not in METRICS_BY_TASK[self.data.task]:
            raise ValueError(
                f"tracking.promotion.metric is {metric!r}, which task {self.data.task!r} does "
                f"not produce; allowed: {list(METRICS_BY_TASK[self.data.task])}"
            )

    def _features_use_schema_columns(self) -> None:
        columns = set(self.data.schema_.columns)
        used: dict[str, list[str]] = {}
        for kind in ("numeric", "categorical"):
            declared = getattr(self.features, kind)
            if declared != "auto":
                used[f"features.{kind}"] = list(declared)
        for feature in self.features.derived:
            inputs = (
                [feature.numerator, feature.denominator]
                if isinstance(feature, RatioFeature)
                else [feature.column]
            )
            used[f"features.derived[{feature.name}]"] = inputs
        for key, names in used.items():
            missing = sorted(set(names) - columns)
            if missing:
                raise ValueError(
                    f"{key} uses columns {missing}, which data.schema ({self.data.name}) "
                    f"does not declare"
                )
