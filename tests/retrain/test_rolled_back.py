"""`reprokit retrain` never re-promotes a version a serving canary rolled back: when the
pipeline's rule moved `champion` to it (the same model bytes register as the same version),
the loop puts the alias back and its decision says why. A real MLflow SQLite registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from tests.support.mlflow_store import registry_with_versions

from reprokit.core.names import MODEL_VERSION_TAG
from reprokit.retrain.loop import _decide
from reprokit.serving.canary import tag_rolled_back
from reprokit.serving.store import registered_version
from reprokit.tracking.store import promote


def test_a_rolled_back_version_the_rule_promoted_is_put_back_and_the_decision_says_why(
    tmp_path: Path, mlflow_db_template: Path
) -> None:
    uri, client = registry_with_versions(tmp_path, mlflow_db_template, 2)
    found = registered_version({"tracking_uri": uri, "registered_model": "m", "model_version": 2})
    assert found is not None
    tag_rolled_back(found, "drift alarm on income", kept="m:v1")
    # The retrain's pipeline run came back with v2's bytes and its rule promoted it over v1.
    client.set_registered_model_alias("m", "champion", "1")
    promote(client, "m", "2", "promotion rule: roc_auc 0.81 > 0.78")
    run = client.create_run(client.create_experiment("retrain"))
    client.set_tag(run.info.run_id, MODEL_VERSION_TAG, "2")
    client.set_tag(run.info.run_id, "rk.quality_gate", "passed")

    unused = cast(Any, None)  # the workspace and batch serve only a rejudge
    decided = _decide(unused, client, "m", client.get_run(run.info.run_id), "1", batch=unused)

    assert decided["outcome"] == "rolled_back"
    assert decided["champion_after"] == "1"
    assert str(client.get_model_version_by_alias("m", "champion").version) == "1"
    assert decided["decision"]["action"] == "keep"
    reason = decided["decision"]["reason"]
    assert "v2 was rolled back by a serving canary (drift alarm on income)" in reason
    assert "champion stays v1" in reason
    # The way back is a promotion by hand, which clears the rollback itself.
    assert "`reprokit promote 2 --reason ...` (a promotion by hand clears the rollback)" in reason
