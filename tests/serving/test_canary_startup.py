"""A worker that starts while `champion` names a rolled-back version serves the champion the
rollback kept (as its siblings do), or fails naming the version and the fix; once a person
promotes it, the version itself: a real BentoML store (its own BENTOML_HOME, in a
subprocess) and a real MLflow SQLite registry."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.support.mlflow_store import registry_with_versions
from tests.support.tools import run, tool_env

from reprokit.serving.canary import tag_rolled_back
from reprokit.serving.store import registered_version
from reprokit.tracking.registry_cli import Registry, promote_version

NAME = "p-d"
# Two packaged versions of one project (the labels `reprokit package` sets), then the
# resolution a starting worker makes; prints the tag, or the error's class and message.
SCRIPT = """
import json, sys
import bentoml
from pathlib import Path
from reprokit.serving.store import ProjectIdentity, resolve_model_tag

uri, root = sys.argv[1], Path(sys.argv[2])
project = ProjectIdentity("p", "d", root, instance="i")
if not bentoml.models.list():
    for version in ("1", "2"):
        metadata = {"tracking_uri": uri, "registered_model": "m", "model_version": version}
        labels = {"project": "p", "data": "d", "project_id": "i"}
        with bentoml.models.create(f"p-d:v{version}", labels=labels, metadata=metadata):
            pass
try:
    print(json.dumps({"tag": resolve_model_tag(None, project)}))
except Exception as error:
    print(json.dumps({"error": type(error).__name__, "message": str(error)}))
"""


def test_a_starting_worker_serves_the_champion_a_rollback_kept_or_fails_naming_the_fix(
    tmp_path: Path, mlflow_db_template: Path
) -> None:
    uri, client = registry_with_versions(tmp_path, mlflow_db_template, 2)
    client.set_registered_model_alias("m", "champion", "2")
    script = tmp_path / "resolve.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {**tool_env(), "BENTOML_HOME": str(tmp_path / "bentoml")}

    def resolved() -> dict[str, str]:
        result = run([sys.executable, str(script), uri, str(tmp_path)], tmp_path, env=env)
        answer: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
        return answer

    assert resolved() == {"tag": f"{NAME}:v2"}  # not rolled back: the alias decides
    found = registered_version({"tracking_uri": uri, "registered_model": "m", "model_version": 2})
    assert found is not None
    tag_rolled_back(found, "error rate 0.400 > 0.05", kept=f"{NAME}:v1")
    assert resolved() == {"tag": f"{NAME}:v1"}  # what the worker that rolled back serves

    # Rolled back by hand (no kept champion recorded): nothing is guessed.
    client.delete_model_version_tag("m", "2", "rk.canary.kept")
    failed = resolved()
    assert failed["error"] == "RolledBackChampionError"
    assert "version 2 (p-d:v2)" in failed["message"]
    assert "error rate 0.400 > 0.05" in failed["message"]
    assert "reprokit promote VERSION" in failed["message"]

    # The fix it names: a person promotes the version, which clears the rollback.
    promote_version(Registry(client, "m", "roc_auc", "maximize"), "2", "fixed", "ops")
    assert resolved() == {"tag": f"{NAME}:v2"}
