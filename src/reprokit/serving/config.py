"""The service's A/B and batching settings: params.yaml's `serving` section, then env.

Why params.yaml: A/B and batching are decisions about a deployment, not properties of a
model, so they are not baked into the packaged model's metadata (changing a fraction
would otherwise mean repackaging). They are declared like every other setting, in
`conf/serving/`, composed and validated into params.yaml; `bentoml serve` runs from the
project root where params.yaml is, and `bentoml build` includes it (bentofile.yaml), so a
Bento starts with the settings it was built with. Environment variables override single
fields for a deployment (the service already takes its other settings from env):

- `REPROKIT_PARAMS`: the params file [./params.yaml; absent: the defaults below].
- `REPROKIT_CHALLENGER_MODE` (none|split|shadow), `REPROKIT_CHALLENGER_TAG`,
  `REPROKIT_CHALLENGER_ALIAS`, `REPROKIT_CHALLENGER_FRACTION`, `REPROKIT_CHALLENGER_SALT`.
- `REPROKIT_BATCHING` (1/0), `REPROKIT_BATCH_MAX_SIZE`, `REPROKIT_BATCH_MAX_LATENCY_MS`.

The same file says which project this is (`project.name`, `data.name`, and the folder it
is in): model resolution never leaves that project and dataset (reprokit.serving.store).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from reprokit.config.models import MonitoringConfig, ServingConfig
from reprokit.core.names import PARAMS_FILE
from reprokit.errors import ConfigError
from reprokit.serving.store import ProjectIdentity, project_identity

PARAMS_ENV = "REPROKIT_PARAMS"
# env var -> (section, field); values are validated by ServingConfig like the YAML ones.
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "REPROKIT_CHALLENGER_MODE": ("challenger", "mode"),
    "REPROKIT_CHALLENGER_TAG": ("challenger", "tag"),
    "REPROKIT_CHALLENGER_ALIAS": ("challenger", "alias"),
    "REPROKIT_CHALLENGER_FRACTION": ("challenger", "fraction"),
    "REPROKIT_CHALLENGER_SALT": ("challenger", "salt"),
    "REPROKIT_BATCHING": ("batching", "enabled"),
    "REPROKIT_BATCH_MAX_SIZE": ("batching", "max_batch_size"),
    "REPROKIT_BATCH_MAX_LATENCY_MS": ("batching", "max_latency_ms"),
}


def _params_section(path: Path, name: str = "serving") -> dict[str, Any]:
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    section = params.get(name, {}) if isinstance(params, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: `{name}` must be a mapping")
    return section


def params_path(environ: Mapping[str, str], cwd: Path | None = None) -> Path:
    named = environ.get(PARAMS_ENV, "").strip()
    path = Path(named) if named else (cwd or Path.cwd()) / PARAMS_FILE
    if named and not path.is_file():
        raise ConfigError(f"{PARAMS_ENV}={named!r}: no such file")
    return path


def _name_in(params: Any, section: str, path: Path) -> str:
    value = params.get(section, {}).get("name") if isinstance(params, dict) else None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: `{section}.name` is missing (run `reprokit config compose`)")
    return value


def load_project_identity(
    environ: Mapping[str, str], cwd: Path | None = None
) -> ProjectIdentity | None:
    """This project (params.yaml's `project.name` and `data.name`, in the folder params.yaml
    is in: the project root); None when there is no params file.

    Raises:
        ConfigError: The params file is named but missing, is not YAML, or lacks the names.
    """
    path = params_path(environ, cwd)
    if not path.is_file():
        return None
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    return project_identity(
        _name_in(params, "project", path), _name_in(params, "data", path), path.parent
    )


def load_monitoring_config(environ: Mapping[str, str], cwd: Path | None = None) -> MonitoringConfig:
    """params.yaml's `monitoring` section (live window, PSI threshold) for the live gauges;
    the defaults when there is no params file."""
    path = params_path(environ, cwd)
    section = _params_section(path, "monitoring") if path.is_file() else {}
    try:
        return MonitoringConfig.model_validate(section)
    except ValidationError as error:
        lines = [
            f"`monitoring.{'.'.join(str(part) for part in item['loc'])}` "
            f"(value {item.get('input')!r}) in {path}: {item['msg']}"
            for item in error.errors()
        ]
        raise ConfigError("invalid monitoring settings:\n  - " + "\n  - ".join(lines)) from None


def _with_env(section: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    merged = {
        key: dict(value) if isinstance(value, dict) else value for key, value in section.items()
    }
    for name, (group, field) in ENV_OVERRIDES.items():
        raw = environ.get(name, "").strip()
        if raw:
            merged.setdefault(group, {})[field] = raw
    return merged


def _explain(error: ValidationError, source: str) -> str:
    lines = [
        f"`serving.{'.'.join(str(part) for part in item['loc'])}` "
        f"(value {item.get('input')!r}) in {source}: {item['msg']}"
        for item in error.errors()
    ]
    return "invalid serving settings:\n  - " + "\n  - ".join(lines)


def load_serving_config(
    environ: Mapping[str, str], cwd: Path | None = None
) -> tuple[ServingConfig, str]:
    """The validated settings and where they came from (for the start-up log line).

    Raises:
        ConfigError: The params file is named but missing, is not YAML, or a value (from
            the file or an env var) is invalid; the message names the key and the source.
    """
    path = params_path(environ, cwd)
    section = _params_section(path) if path.is_file() else {}
    source = str(path) if path.is_file() else "defaults"
    overridden = [name for name in ENV_OVERRIDES if environ.get(name, "").strip()]
    if overridden:
        source += f" + env {', '.join(overridden)}"
    try:
        return ServingConfig.model_validate(_with_env(section, environ)), source
    except ValidationError as error:
        raise ConfigError(_explain(error, source)) from None
