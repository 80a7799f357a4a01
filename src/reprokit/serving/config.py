"""Every setting of the service, read one way: `ServingSettings`, a pydantic-settings model of
the `REPROKIT_*` environment, plus params.yaml's `serving` and `monitoring` sections.

Why params.yaml: A/B and batching are decisions about a deployment, not properties of a
model, so they are not baked into the packaged model's metadata (changing a fraction
would otherwise mean repackaging). They are declared like every other setting, in
`conf/serving/`, composed and validated into params.yaml; `bentoml serve` runs from the
project root where params.yaml is, and `bentoml build` includes it (bentofile.yaml), so a
Bento starts with the settings it was built with. Environment variables override single
fields of that section for a deployment (`REPROKIT_CHALLENGER_*`, `REPROKIT_BATCHING`,
`REPROKIT_BATCH_*`, see `OVERRIDES`).

The variables, defaults in brackets (the README's serving section explains each):

- auth and limits: `REPROKIT_AUTH` (required|off) [required], `REPROKIT_API_KEYS`
  (comma-separated), `REPROKIT_API_KEYS_FILE` (one key per line, `#` comments),
  `REPROKIT_RATE_LIMIT_RPS` / `_BURST` [50 / 100], `REPROKIT_AUTH_FAILURES_RPS` / `_BURST`
  [1 / 20], `REPROKIT_MAX_BODY_BYTES` [10 MiB], `REPROKIT_REQUEST_TIMEOUT_S` [30],
  `REPROKIT_BODY_TIMEOUT_S` [10; 0: no limit];
- logs: `REPROKIT_ACCESS_LOG` (1/0, true/false, yes/no, on/off) [1], `REPROKIT_LOG_FORMAT`
  (console|json) [console], the project's one log setting (reprokit.logs);
- the model: `REPROKIT_MODEL_TAG` [this project's champion, reprokit.serving.store],
  `REPROKIT_REGISTRY` (0 skips the MLflow registry lookup) [1], `REPROKIT_MAX_RECORDS`
  [10000], `REPROKIT_PREDICT_THREADS` [1], `REPROKIT_PARAMS` [./params.yaml];
- the server: `REPROKIT_WORKERS` (a positive integer, or `auto`: one per CPU this process
  may run on, `usable_cpus`) [auto].

All of them are validated together before any worker starts (the service's deployment
hook): one error (`SettingsError`, exit status 2) names every bad variable, its value and
what is expected, formatted by `settings_error`, the one formatter of serving settings.
Only SHA-256 digests of the API keys are kept. The same params file says which project this
is (`project.name`, `data.name`, and the folder it is in): model resolution never leaves
that project and dataset (reprokit.serving.store).
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from reprokit.config.models import MonitoringConfig, ServingConfig
from reprokit.core.names import PARAMS_FILE
from reprokit.core.yaml_text import load_yaml
from reprokit.errors import ConfigError
from reprokit.serving.http_limits import HeadLimits
from reprokit.serving.store import ProjectIdentity, project_identity

ENV_PREFIX = "REPROKIT_"
Location = tuple[str | int, ...]
_Model = TypeVar("_Model", bound=BaseModel)


class SettingsError(ConfigError, ValueError):
    """A serving setting is invalid; the message names it, its value and what is expected."""


def env_name(field: str) -> str:
    """The environment variable of a `ServingSettings` field (pydantic-settings' rule)."""
    return f"{ENV_PREFIX}{field.upper()}"


def settings_error(
    error: ValidationError, name: Callable[[Location], str], source: str | None = None
) -> SettingsError:
    """The one formatter: one line per bad value, `NAME='value': what is expected`.

    `name` turns pydantic's location into what the operator sets (a variable, a params key);
    `source` says where the values came from when that is more than the environment.
    """
    lines = [f"{name(item['loc'])}={item.get('input')!r}: {item['msg']}" for item in error.errors()]
    where = f" ({source})" if source else ""
    return SettingsError(f"invalid serving settings{where}:\n  - " + "\n  - ".join(lines))


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _digests(keys: list[str]) -> tuple[bytes, ...]:
    # Only digests are kept: the keys themselves go out of scope with the raw value.
    return tuple(digest(key) for key in dict.fromkeys(key.strip() for key in keys) if key)


def _listed_keys(value: object) -> object:
    return _digests(value.split(",")) if isinstance(value, str) else value


def _keys_in_file(value: object) -> object:
    if not isinstance(value, str):
        return value
    path = Path(value)
    if not path.is_file():
        raise ValueError("no such file")
    lines = path.read_text(encoding="utf-8").splitlines()
    return _digests([line for line in lines if not line.lstrip().startswith("#")])


def _existing_file(value: object) -> object:
    if isinstance(value, str) and not Path(value).is_file():
        raise ValueError("no such file")
    return value


AUTO: Literal["auto"] = "auto"
CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def _worker_setting(value: object) -> object:
    # One message for both shapes (pydantic's union would list one error per member).
    text = value.strip().lower() if isinstance(value, str) else value
    if text == AUTO:
        return AUTO
    if isinstance(text, str) and text.isdigit() and int(text) >= 1:
        return int(text)
    if isinstance(text, int) and not isinstance(text, bool) and text >= 1:
        return text
    raise ValueError(f"expected a positive integer or `{AUTO}` (one worker per CPU)")


def cgroup_cpu_limit(cpu_max: Path = CPU_MAX) -> int | None:
    """The CPUs a cgroup v2 quota allows (`cpu.max`: "<quota> <period>", rounded up), or
    None without a quota (`max`, no cgroup v2, unreadable)."""
    try:
        quota, period = cpu_max.read_text(encoding="ascii").split()
    except (OSError, ValueError):
        return None
    if not (quota.isdigit() and period.isdigit()) or int(period) == 0:
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def usable_cpus(cpu_max: Path = CPU_MAX) -> int:
    """The CPUs this process may run on: its affinity mask (a pinned process, a container's
    cpuset), capped by a cgroup CPU quota (a container's `--cpus`, a pod's CPU limit); the
    host's CPU count only where there is no affinity call."""
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    limit = cgroup_cpu_limit(cpu_max)
    return max(1, cpus if limit is None else min(cpus, limit))


def worker_count(setting: int | Literal["auto"], cpus: Callable[[], int] = usable_cpus) -> int:
    """The number of server worker processes `REPROKIT_WORKERS` asks for."""
    return cpus() if setting == AUTO else int(setting)


_NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
_Count = Annotated[int, Field(ge=1)]
# NoDecode: the raw string reaches the validator (pydantic-settings would parse it as JSON).
_KeyDigests = Annotated[tuple[bytes, ...], NoDecode, BeforeValidator(_listed_keys)]
_FileKeyDigests = Annotated[tuple[bytes, ...], NoDecode, BeforeValidator(_keys_in_file)]

# ServingSettings field -> (params.yaml `serving` group, key) it overrides. The values are
# validated with the rest of that section by ServingConfig, the one model of its types.
OVERRIDES: dict[str, tuple[str, str]] = {
    "challenger_mode": ("challenger", "mode"),
    "challenger_tag": ("challenger", "tag"),
    "challenger_alias": ("challenger", "alias"),
    "challenger_fraction": ("challenger", "fraction"),
    "challenger_salt": ("challenger", "salt"),
    "batching": ("batching", "enabled"),
    "batch_max_size": ("batching", "max_batch_size"),
    "batch_max_latency_ms": ("batching", "max_latency_ms"),
}


class ServingSettings(BaseSettings):
    """The service's `REPROKIT_*` environment (a blank variable is unset; names in any case).

    Field names are the variable names without the prefix, so that an error's location is
    the variable (`env_name`).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore", frozen=True
    )

    auth: Literal["required", "off"] = "required"
    api_keys: _KeyDigests = Field((), repr=False)
    api_keys_file: _FileKeyDigests = Field((), repr=False)
    rate_limit_rps: _NonNegative = 50.0
    rate_limit_burst: _NonNegative = 100.0
    auth_failures_rps: _NonNegative = 1.0
    auth_failures_burst: _NonNegative = 20.0
    max_body_bytes: _Count = 10 * 1024 * 1024
    request_timeout_s: _NonNegative = 30.0
    body_timeout_s: _NonNegative = 10.0
    # The request head (reprokit.serving.http_limits): 431 past the size or count, 408 past
    # the time.
    max_header_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024
    max_headers: Annotated[int, Field(ge=8)] = 100
    header_timeout_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 10.0
    # pydantic's booleans: 1/0, true/false, yes/no, on/off (any case); anything else is refused.
    access_log: bool = True
    log_format: Literal["console", "json"] = "console"
    model_tag: str | None = None
    registry: bool = True
    # Seconds between re-resolutions of the champion (reprokit.serving.reload); 0: off.
    model_refresh_s: _NonNegative = 0.0
    max_records: _Count = 10_000
    predict_threads: _Count = 1
    # Server worker processes (`worker_count`); the service passes it to BentoML.
    workers: Annotated[int | Literal["auto"], BeforeValidator(_worker_setting)] = AUTO
    params: Annotated[Path | None, BeforeValidator(_existing_file)] = None
    # Overrides of params.yaml's `serving` section (OVERRIDES), kept as given.
    challenger_mode: str | None = None
    challenger_tag: str | None = None
    challenger_alias: str | None = None
    challenger_fraction: str | None = None
    challenger_salt: str | None = None
    batching: str | None = None
    batch_max_size: str | None = None
    batch_max_latency_ms: str | None = None

    @field_validator("auth", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def head_limits(self) -> HeadLimits:
        return HeadLimits(
            max_head_bytes=self.max_header_bytes,
            max_headers=self.max_headers,
            head_timeout_seconds=self.header_timeout_s,
        )

    @property
    def auth_required(self) -> bool:
        return self.auth == "required"

    @property
    def key_digests(self) -> tuple[bytes, ...]:
        """The accepted keys' SHA-256 digests, from both variables, each once."""
        return tuple(dict.fromkeys((*self.api_keys, *self.api_keys_file)))

    def overrides(self) -> dict[str, str]:
        """The set override variables and their values, by variable name."""
        return {
            env_name(field): value
            for field in OVERRIDES
            if (value := getattr(self, field)) is not None
        }


def serving_settings() -> ServingSettings:
    """The settings from the environment, validated.

    Raises:
        SettingsError: Names every bad variable, its value and what is expected.
    """
    try:
        return ServingSettings()
    except ValidationError as error:
        raise settings_error(error, lambda loc: env_name(str(loc[0]))) from None


def params_path(settings: ServingSettings, cwd: Path | None = None) -> Path:
    """`REPROKIT_PARAMS` (checked to exist), else params.yaml in `cwd` (may not exist)."""
    return settings.params or (cwd or Path.cwd()) / PARAMS_FILE


def _read_params(path: Path) -> Any:
    try:
        return load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None


def _section(path: Path, name: str) -> dict[str, Any]:
    """A section of the params file: {} without a file or section."""
    if not path.is_file():
        return {}
    params = _read_params(path)
    section = params.get(name, {}) if isinstance(params, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: `{name}` must be a mapping")
    return section


def _name_in(params: Any, section: str, path: Path) -> str:
    value = params.get(section, {}).get("name") if isinstance(params, dict) else None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: `{section}.name` is missing (run `reprokit config compose`)")
    return value


def load_project_identity(
    settings: ServingSettings, cwd: Path | None = None
) -> ProjectIdentity | None:
    """This project (params.yaml's `project.name` and `data.name`, in the folder params.yaml
    is in: the project root); None when there is no params file.

    Raises:
        ConfigError: The params file is not YAML or lacks the names.
    """
    path = params_path(settings, cwd)
    if not path.is_file():
        return None
    params = _read_params(path)
    return project_identity(
        _name_in(params, "project", path), _name_in(params, "data", path), path.parent
    )


def _validated(
    model: type[_Model], data: Mapping[str, Any], name: Callable[[Location], str], source: str
) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise settings_error(error, name, source) from None


def _dotted(section: str, loc: Location) -> str:
    return ".".join([section, *(str(part) for part in loc)])


def load_monitoring_config(settings: ServingSettings, cwd: Path | None = None) -> MonitoringConfig:
    """params.yaml's `monitoring` section (live window, PSI threshold) for the live gauges;
    the defaults when there is no params file."""
    path = params_path(settings, cwd)
    section = _section(path, "monitoring")
    return _validated(MonitoringConfig, section, lambda loc: _dotted("monitoring", loc), str(path))


def load_serving_config(
    settings: ServingSettings, cwd: Path | None = None
) -> tuple[ServingConfig, str]:
    """params.yaml's `serving` section with the env overrides applied, validated, and where
    it came from (for the start-up log line and the errors).

    Raises:
        ConfigError: The params file is not YAML, or a value (from the file or an override
            variable) is invalid; the message names the key or variable and the source.
    """
    path = params_path(settings, cwd)
    section = _section(path, "serving")
    merged = {
        key: dict(value) if isinstance(value, dict) else value for key, value in section.items()
    }
    overridden: dict[Location, str] = {}
    for field, (group, key) in OVERRIDES.items():
        value = getattr(settings, field)
        if value is not None:
            merged.setdefault(group, {})[key] = value
            overridden[(group, key)] = env_name(field)
    source = str(path) if path.is_file() else "defaults"
    if overridden:
        source += f" + env {', '.join(overridden.values())}"

    def name(loc: Location) -> str:
        key = _dotted("serving", loc)
        variable = overridden.get(tuple(loc[:2]))
        return f"{variable} ({key})" if variable else key

    return _validated(ServingConfig, merged, name, source), source


def checked_settings() -> tuple[ServingSettings, ServingConfig]:
    """Every serving setting (the environment, params.yaml's `serving` and `monitoring`
    sections) validated, or a clean stop of `bentoml serve` or `bentoml build`: the message
    and exit status 2, no traceback (the message is all an operator needs to fix it)."""
    try:
        settings = serving_settings()
        config, _ = load_serving_config(settings)
        load_monitoring_config(settings)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(error.exit_code) from None
    return settings, config
