"""`reprokit promote` and `reprokit models`: the model registry by hand.

The automatic promotion rule (`tracking.promotion`) moves `champion` when a better model is
trained; these commands let a person move it (a rollback, an override) with the reason and
who did it recorded on the version, and list what the registry holds.

Kept light at import time (the `reprokit` CLI imports this module): mlflow and the config
are imported inside the commands.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import click

from reprokit.cli_errors import user_errors
from reprokit.core.names import (
    CHAMPION,
    FINGERPRINT_TAG,
    PREVIOUS_CHAMPION_TAG,
    PROMOTED_AT_TAG,
    PROMOTED_BY_TAG,
    PROMOTION_REASON_TAG,
    ROLLBACK_KEPT_TAG,
    ROLLBACK_REASON_TAG,
    ROLLED_BACK_TAG,
)
from reprokit.errors import ReprokitError
from reprokit.logs import get_logger
from reprokit.project_lock import writes_project

DEFAULT_LIMIT = 20
# A serving canary's rollback record on a version (reprokit.serving.canary). The mark goes
# first: readers look at the reason and the kept champion only under it, so a reader between
# two deletions sees no rollback rather than one without its reason.
ROLLBACK_TAGS = (ROLLED_BACK_TAG, ROLLBACK_REASON_TAG, ROLLBACK_KEPT_TAG)


class RegistryError(ReprokitError):
    """The registry has no such model or version, or cannot be reached."""


# --- the registry, through an MlflowClient ---------------------------------------------------


@dataclass(frozen=True)
class Registry:
    """A client, the model it is about, and the metric that ranks its versions."""

    client: Any
    model: str
    metric: str
    direction: str


@dataclass(frozen=True)
class VersionRow:
    version: int
    aliases: list[str]
    fingerprint: str
    run_id: str
    metric: float | None
    created: str
    promotion_reason: str


@dataclass(frozen=True)
class Promotion:
    model: str
    version: str
    previous: str | None
    reason: str
    user: str
    # The canary rollback this promotion overrode: its tags, deleted from the version.
    cleared: dict[str, str]


def _is_missing(error: Exception) -> bool:
    return getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"


def registered_models(client: Any) -> list[str]:
    return sorted(str(model.name) for model in client.search_registered_models())


def aliases_of(client: Any, model: str) -> dict[str, str]:
    """Alias -> version of a registered model; a clear error when the model is unknown."""
    from mlflow.exceptions import MlflowException

    try:
        registered = client.get_registered_model(model)
    except MlflowException as error:
        if not _is_missing(error):
            raise RegistryError(f"registry at {client.tracking_uri}: {error.message}") from None
        known = registered_models(client)
        raise RegistryError(
            f"no registered model {model!r} in {client.tracking_uri}; "
            f"registered models: {known or 'none'}"
        ) from None
    return {str(alias): str(version) for alias, version in registered.aliases.items()}


def _versions(client: Any, model: str) -> list[Any]:
    found = client.search_model_versions(filter_string=f"name = '{model}'")
    return sorted(found, key=lambda mv: int(mv.version), reverse=True)


def resolve_version(client: Any, model: str, ref: str, aliases: dict[str, str]) -> str:
    """A version number, or an alias (`challenger`), to an existing version number."""
    if ref in aliases:
        return aliases[ref]
    existing = [str(mv.version) for mv in _versions(client, model)]
    if ref not in existing:
        shown = ", ".join(reversed(existing)) or "none"
        raise RegistryError(
            f"model {model!r} has no version {ref!r}; versions: {shown}; "
            f"aliases: {sorted(aliases) or 'none'}"
        )
    return ref


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "unknown"


def promote_version(registry: Registry, ref: str, reason: str, user: str) -> Promotion:
    """Move `champion` to version `ref` (number or alias) with who and why on the version."""
    from reprokit.tracking.store import promote

    client, model = registry.client, registry.model
    aliases = aliases_of(client, model)
    version = resolve_version(client, model, ref, aliases)
    previous = aliases.get(CHAMPION)
    # Who and when go on the version before the alias moves: no unattributed promotion.
    audit = {
        PROMOTED_BY_TAG: user,
        PROMOTED_AT_TAG: datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if previous is not None:
        audit[PREVIOUS_CHAMPION_TAG] = previous
    for key, value in audit.items():
        client.set_model_version_tag(model, version, key, value)
    # A person promoting a rolled-back version is the decision that overrides the rollback:
    # cleared before the alias moves, so no worker sees it champion and still rolled back.
    cleared = clear_rollback(client, model, version)
    promote(client, model, version, reason)
    return Promotion(
        model=model, version=version, previous=previous, reason=reason, user=user, cleared=cleared
    )


def clear_rollback(client: Any, model: str, version: str) -> dict[str, str]:
    """Delete a canary rollback's tags from `version`: a starting service and `reprokit
    retrain` then treat it as any version. The tags deleted, with their values."""
    tags = dict(client.get_model_version(model, version).tags or {})
    cleared = {key: str(tags[key]) for key in ROLLBACK_TAGS if key in tags}
    for key in cleared:
        client.delete_model_version_tag(model, version, key)
    if cleared:
        # The logger only here: structlog stays out of the CLI's import (module docstring).
        get_logger(__name__).info(
            "registry.rollback_cleared", model=model, version=version, tags=cleared
        )
    return cleared


def _run_metric(client: Any, run_id: str | None, metric: str) -> float | None:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    try:
        value = client.get_run(run_id).data.metrics.get(metric)
    except MlflowException:  # the run was deleted: the version still lists
        return None
    return None if value is None else float(value)


def version_rows(registry: Registry, limit: int) -> list[VersionRow]:
    """The newest `limit` versions, with their aliases, fingerprint, run and key metric."""
    client, model = registry.client, registry.model
    by_version: dict[str, list[str]] = {}
    for alias, version in sorted(aliases_of(client, model).items()):
        by_version.setdefault(version, []).append(alias)
    rows = []
    for mv in _versions(client, model)[:limit]:
        tags = dict(mv.tags or {})
        created = datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC)
        rows.append(
            VersionRow(
                version=int(mv.version),
                aliases=by_version.get(str(mv.version), []),
                fingerprint=tags.get(FINGERPRINT_TAG, ""),
                run_id=str(mv.run_id or ""),
                metric=_run_metric(client, mv.run_id, registry.metric),
                created=created.isoformat(timespec="seconds"),
                promotion_reason=tags.get(PROMOTION_REASON_TAG, ""),
            )
        )
    return rows


def render_table(registry: Registry, rows: list[VersionRow]) -> str:
    header = f"{'version':>7}  {'aliases':<22}{'fingerprint':<14}{'run id':<34}{registry.metric}"
    lines = [
        f"{registry.model}: {len(rows)} version(s) shown, newest first; "
        f"key metric {registry.metric} ({registry.direction})",
        header,
    ]
    for row in rows:
        metric = "-" if row.metric is None else f"{row.metric:.6g}"
        lines.append(
            f"{row.version:>7}  {','.join(row.aliases) or '-':<22}"
            f"{row.fingerprint[:12] or '-':<14}{row.run_id or '-':<34}{metric}"
        )
    return "\n".join(lines)


# --- the commands --------------------------------------------------------------------------


def _open_registry(model: str | None) -> Registry:
    """The project's tracking store (MLFLOW_TRACKING_URI wins) and registered model."""
    from reprokit.config.compose import find_project_root, load_config
    from reprokit.tracking.store import connect

    root = find_project_root()
    config = load_config(root)
    name = model or config.tracking.registered_model
    if not name:
        raise RegistryError("params.yaml names no tracking.registered_model: pass --model NAME")
    metric, direction = config.tracking.promotion.resolved(config.data.task)
    return Registry(client=connect(config, root), model=name, metric=metric, direction=direction)


MODEL_OPTION = click.option(
    "--model", "model", default=None, help="Registered model (default: tracking.registered_model)."
)


@click.command()
@click.argument("version")
@click.option("--reason", required=True, help="Why (recorded on the version).")
@MODEL_OPTION
@user_errors
@writes_project
def promote(version: str, reason: str, model: str | None) -> None:
    """Move the `champion` alias to VERSION (a number, or an alias such as `challenger`)."""
    if not reason.strip():
        raise click.BadParameter("must not be empty", param_hint="--reason")
    done = promote_version(_open_registry(model), version, reason.strip(), current_user())
    if done.previous == done.version:
        was = "already the champion"
    else:
        was = f"was v{done.previous}" if done.previous else "there was none"
    click.echo(f"{done.model}: champion v{done.version} ({was}); reason: {done.reason!r}")
    click.echo(f"recorded on the version: promoted by {done.user}")
    if done.cleared:
        why = done.cleared.get(ROLLBACK_REASON_TAG) or "no reason recorded"
        # A running worker keeps its own refusal in memory (reprokit.serving.canary).
        click.echo(
            f"cleared its canary rollback ({why}): a starting service serves it; restart "
            "running workers that refused it"
        )


@click.command()
@MODEL_OPTION
@click.option("--limit", default=DEFAULT_LIMIT, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@user_errors
def models(model: str | None, limit: int, as_json: bool) -> None:
    """List the registered versions: aliases, fingerprint, run id and the key metric."""
    registry = _open_registry(model)
    rows = version_rows(registry, limit)
    if as_json:
        document = {
            "model": registry.model,
            "metric": registry.metric,
            "direction": registry.direction,
            "versions": [asdict(row) for row in rows],
        }
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(render_table(registry, rows))
