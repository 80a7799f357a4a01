"""Helpers for tests: project copies, the project's real tools as subprocesses, the copy's
MLflow store, a real `bentoml serve`, and sweeps. Import from here (`from tests.support
import run`) or from the submodule that owns a helper."""

from tests.support.hashing import file_md5, file_sha256, md5, sha256
from tests.support.mlflow_store import (
    MODEL,
    Executed,
    Executions,
    aliases,
    all_runs,
    artifact_bytes,
    artifact_text,
    executions_in_copy,
    migrated_mlflow_db,
    store_client,
    versions,
)
from tests.support.project import PROJECT_FILES, PROJECT_ROOT, commit_all, copy_project, git_init
from tests.support.serving import access_log_lines, bentoml_env, bentoml_server
from tests.support.tools import VENV_BIN, free_port, run, stop_group, tool_env

__all__ = [
    "MODEL",
    "PROJECT_FILES",
    "PROJECT_ROOT",
    "VENV_BIN",
    "Executed",
    "Executions",
    "access_log_lines",
    "aliases",
    "all_runs",
    "artifact_bytes",
    "artifact_text",
    "bentoml_env",
    "bentoml_server",
    "commit_all",
    "copy_project",
    "executions_in_copy",
    "file_md5",
    "file_sha256",
    "free_port",
    "git_init",
    "md5",
    "migrated_mlflow_db",
    "run",
    "sha256",
    "stop_group",
    "store_client",
    "tool_env",
    "versions",
]
