"""Which reference a batch is compared with, and where its report is recorded.

Order: `--reference FILE` (a profile; the reference sample, model and feature state are the
pipeline's local outputs); `--run RUN_ID` (that MLflow run's artifacts); else the serving
model: the run of the registered model's `champion` version when a registry is configured
and reachable, else the local pipeline outputs (`data/06_models/reference_profile.json`,
`reference_sample.parquet`, the model and feature state). The model scores batches that
carry no predictions, and must be the model the profile was built for (checked by sha256).
The reference sample is Evidently's reference table (written by the same pipeline node run
as the profile).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprokit.config.compose import Workspace
from reprokit.config.roles import (
    FEATURE_STATE,
    MODEL,
    REFERENCE_PROFILE,
    REFERENCE_SAMPLE,
    role_dataset,
)
from reprokit.core.names import CHAMPION, DRIFT_REPORT_TAG, DRIFT_STATUS_TAG
from reprokit.errors import ReprokitError
from reprokit.layout import read_last_run
from reprokit.logs import get_logger
from reprokit.nodes.profile import ReferenceProfile, parse_profile

if TYPE_CHECKING:
    import pandas as pd

log = get_logger(__name__)

SQLITE = "sqlite:///"


class ReferenceError(ReprokitError):
    """No usable reference profile (or model) for monitoring; exit 2 like other setup errors."""

    exit_code = 2


@dataclass(frozen=True)
class RegisteredVersion:
    """The registry's name for a run's model: what people call it, not its sha."""

    name: str
    version: str
    aliases: tuple[str, ...] = ()

    def label(self) -> str:
        named = f"{self.name} v{self.version}"
        return named + "".join(f" @{alias}" for alias in self.aliases)


@dataclass
class Reference:
    profile: ReferenceProfile
    model: str | None
    state: dict[str, Any] | None
    sample: pd.DataFrame
    source: str
    run_id: str | None = None
    registered: RegisteredVersion | None = None

    def describe(self) -> dict[str, Any]:
        registered = self.registered
        return {
            "source": self.source,
            "run_id": self.run_id,
            "registered_model": None
            if registered is None
            else {
                "name": registered.name,
                "version": registered.version,
                "aliases": list(registered.aliases),
            },
        }

    def title(self) -> str:
        """The reference as a report names it: the registry's name when it has one (the
        run id is in the summary next to it)."""
        return self.source if self.registered is None else self.registered.label()


def _catalog_file(workspace: Workspace, role: str) -> Path | None:
    """The file of the catalog dataset with `role` (reprokit.config.roles), if declared."""
    dataset = role_dataset(workspace.config.catalog, role)
    filepath = workspace.config.catalog.get(dataset or "", {}).get("filepath")
    return None if filepath is None else workspace.root / str(filepath)


def read_profile(path: Path) -> ReferenceProfile:
    if not path.is_file():
        raise ReferenceError(
            f"no reference profile at {path}: run the evaluate pipeline (`make repro` or "
            "`reprokit run`) to write it, or pass --reference / --run"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ReferenceError(f"reference profile {path} is not readable JSON: {error}") from None
    try:
        return parse_profile(document)
    except ReprokitError as error:
        raise ReferenceError(f"reference profile {path}: {error}") from None


def read_sample(path: Path | None, where: str) -> pd.DataFrame:
    """The reference sample (Parquet) of `where` (a file or a run)."""
    import pandas as pd

    if path is None or not path.is_file():
        raise ReferenceError(
            f"{where} has no reference sample (role {REFERENCE_SAMPLE!r}): the model was "
            "trained before `reprokit monitor` used Evidently; retrain it (`make repro` or "
            "`reprokit run`)"
        )
    try:
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow raises many types for a damaged file
        raise ReferenceError(f"reference sample {path} is not readable Parquet: {error}") from None


def _read_text(path: Path | None) -> str | None:
    return path.read_text(encoding="utf-8") if path is not None and path.is_file() else None


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def local_reference(workspace: Workspace, profile_path: Path | None = None) -> Reference:
    """The pipeline's own outputs (or an explicit profile file with the local model)."""
    path = profile_path or _catalog_file(workspace, REFERENCE_PROFILE)
    if path is None:
        raise ReferenceError(f"no catalog dataset has the role {REFERENCE_PROFILE!r}")
    profile = read_profile(path)
    model = _read_text(_catalog_file(workspace, MODEL))
    state_text = _read_text(_catalog_file(workspace, FEATURE_STATE))
    if model is not None and sha256_text(model) != profile.model_sha256:
        # The local model is another one (retrained since): it cannot score for this profile.
        log.warning("monitor.local_model_differs", profile=str(path))
        model, state_text = None, None
    sample_path = _catalog_file(workspace, REFERENCE_SAMPLE)
    return Reference(
        profile=profile,
        model=model,
        state=json.loads(state_text) if state_text else None,
        sample=read_sample(sample_path, str(sample_path or "the catalog")),
        source=str(
            path.relative_to(workspace.root) if path.is_relative_to(workspace.root) else path
        ),
        run_id=_local_run_id(workspace, profile.model_sha256),
    )


def _local_run_id(workspace: Workspace, model_sha256: str) -> str | None:
    """The MLflow run that trained the local model, when the last recorded run did."""
    last = read_last_run(workspace.root)
    return last.run_id if last is not None and last.model_sha256 == model_sha256 else None


# --- MLflow ----------------------------------------------------------------------------------


def tracking_uri(workspace: Workspace) -> str | None:
    """The configured store; None when tracking is off or the SQLite file does not exist
    (MLflow would create and migrate an empty store just to say "nothing here")."""
    config = workspace.config
    uri = os.environ.get("MLFLOW_TRACKING_URI") or (
        config.tracking.uri if config.tracking.enabled else None
    )
    if not uri:
        return None
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/"):
        uri = SQLITE + str((workspace.root / uri[len(SQLITE) :]).resolve())
    if uri.startswith(SQLITE) and not Path(uri[len(SQLITE) :]).is_file():
        return None
    return uri


def client(workspace: Workspace) -> Any | None:
    uri = tracking_uri(workspace)
    if uri is None:
        return None
    from reprokit.tracking.store import connect

    return connect(workspace.config, workspace.root)


@dataclass(frozen=True)
class ChampionVersion:
    """The registry's `champion` version and the run that produced it."""

    run_id: str
    registered: RegisteredVersion


def champion_version(mlflow: Any, name: str | None) -> ChampionVersion | None:
    """The `champion` version of registered model `name`, with its aliases and run, from one
    registry read (the version found by alias carries both); None without one."""
    from mlflow.exceptions import MlflowException

    if not name:
        return None
    try:
        found = mlflow.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    aliases = tuple(sorted(found.aliases or ()))
    return ChampionVersion(str(found.run_id), RegisteredVersion(name, str(found.version), aliases))


def _download(mlflow: Any, run_id: str, folder: str, scratch: Path) -> Path | None:
    from mlflow.exceptions import MlflowException

    try:
        listed = [item.path for item in mlflow.list_artifacts(run_id, folder)]
    except MlflowException as error:
        raise ReferenceError(f"MLflow run {run_id!r}: {error.message}") from None
    files = [path for path in listed if path.endswith((".json", ".txt", ".parquet"))]
    if not files:
        return None
    return Path(mlflow.download_artifacts(run_id, files[0], str(scratch)))


def _logged(
    mlflow: Any, run_id: str, catalog: Mapping[str, Any], role: str, scratch: Path
) -> Path | None:
    """The run's artifact of the dataset with `role` (logged under the dataset's name)."""
    name = role_dataset(catalog, role)
    return None if name is None else _download(mlflow, run_id, name, scratch)


def run_reference(mlflow: Any, run_id: str, catalog: Mapping[str, Any]) -> Reference:
    """The profile, model and feature state logged with MLflow run `run_id`, each under its
    catalog dataset's name (found by role in this project's `catalog`)."""
    from mlflow.exceptions import MlflowException

    try:
        mlflow.get_run(run_id)
    except MlflowException:
        raise ReferenceError(
            f"no MLflow run {run_id!r} in {mlflow.tracking_uri}; `reprokit runs` lists them"
        ) from None
    with tempfile.TemporaryDirectory(prefix="reprokit-monitor-") as scratch:
        profile_path = _logged(mlflow, run_id, catalog, REFERENCE_PROFILE, Path(scratch))
        if profile_path is None:
            name = role_dataset(catalog, REFERENCE_PROFILE) or REFERENCE_PROFILE
            raise ReferenceError(
                f"MLflow run {run_id} has no {name} artifact: the model was trained "
                f"without a reference profile (add {name!r} to tracking.artifacts and "
                "retrain), or pass --reference FILE"
            )
        profile = read_profile(profile_path)
        model_path = _logged(mlflow, run_id, catalog, MODEL, Path(scratch))
        state_path = _logged(mlflow, run_id, catalog, FEATURE_STATE, Path(scratch))
        model = _read_text(model_path)
        state = json.loads(state_path.read_text(encoding="utf-8")) if state_path else None
        sample_path = _logged(mlflow, run_id, catalog, REFERENCE_SAMPLE, Path(scratch))
        sample = read_sample(sample_path, f"MLflow run {run_id}")
    if model is not None and sha256_text(model) != profile.model_sha256:
        raise ReferenceError(
            f"MLflow run {run_id}: the logged model is not the one its profile describes"
        )
    return Reference(profile, model, state, sample, f"mlflow run {run_id}", run_id)


def resolve_reference(
    workspace: Workspace, profile_path: Path | None, run_id: str | None
) -> Reference:
    """See the module docstring for the order."""
    if profile_path is not None:
        return local_reference(workspace, profile_path)
    mlflow = client(workspace)
    if run_id is not None:
        if mlflow is None:
            raise ReferenceError(
                f"--run {run_id}: no MLflow store configured or found (tracking.uri, "
                "MLFLOW_TRACKING_URI)"
            )
        return _named(workspace, mlflow, run_reference(mlflow, run_id, workspace.config.catalog))
    name = workspace.config.tracking.registered_model
    champion = champion_version(mlflow, name) if mlflow is not None else None
    if champion is not None:
        try:
            reference = run_reference(mlflow, champion.run_id, workspace.config.catalog)
        except ReferenceError as error:
            log.warning(
                "monitor.champion_without_profile", run_id=champion.run_id, error=str(error)
            )
        else:
            return dataclasses.replace(reference, registered=champion.registered)
    return local_reference(workspace)


def _named(workspace: Workspace, mlflow: Any, reference: Reference) -> Reference:
    """`reference` with the registry's name for its run's model, when it has one."""
    name = workspace.config.tracking.registered_model
    if not name or reference.run_id is None:
        return reference
    found = registered_version(mlflow, name, reference.run_id)
    return dataclasses.replace(reference, registered=found)


def registered_version(mlflow: Any, name: str, run_id: str) -> RegisteredVersion | None:
    """The newest version of `name` registered from run `run_id`, with its aliases."""
    from mlflow.exceptions import MlflowException

    try:
        versions = mlflow.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    except MlflowException:
        return None
    if not versions:
        return None
    newest = str(max(int(version.version) for version in versions))
    # A search leaves aliases out of what it returns: the version itself carries them.
    aliases = mlflow.get_model_version(name, newest).aliases or ()
    return RegisteredVersion(name, newest, tuple(sorted(aliases)))


def log_report(workspace: Workspace, run_id: str | None, files: list[Path], status: str) -> bool:
    """Attach the report files to the model's run (folder `monitoring/`); False if no run."""
    mlflow = client(workspace)
    if mlflow is None or run_id is None:
        return False
    for path in files:
        mlflow.log_artifact(run_id, str(path), "monitoring")
    mlflow.set_tag(run_id, DRIFT_STATUS_TAG, status)
    mlflow.set_tag(run_id, DRIFT_REPORT_TAG, files[0].name)
    return True
