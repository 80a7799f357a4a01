"""`reprokit promote` and `reprokit models` on a registry built directly with MLflow's client.

Fast: no pipeline runs. The store is a copy of the migrated template (never migrated per
test); the registry holds three versions of the project's model, each with its own run.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from tests.support import MODEL

from reprokit.cli import main
from reprokit.core.names import (
    PROMOTION_REASON_TAG,
    ROLLBACK_KEPT_TAG,
    ROLLBACK_REASON_TAG,
    ROLLED_BACK_TAG,
)
from reprokit.serving.canary import tag_rolled_back
from reprokit.serving.store import RegistryVersion
from reprokit.tracking.registry_cli import models, promote

ROC_AUC = {"1": 0.76, "2": 0.78, "3": 0.75}


@dataclass(frozen=True)
class Store:
    client: Any
    runs: dict[str, str]  # version -> run id


def _register(client: Any, experiment: str, version: str, roc_auc: float) -> str:
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "roc_auc", roc_auc)
    client.set_terminated(run.info.run_id)
    created = client.create_model_version(
        MODEL,
        source=f"runs:/{run.info.run_id}/model",
        run_id=run.info.run_id,
        tags={"rk.fingerprint": f"{version * 12}{'f' * 52}"},
    )
    assert str(created.version) == version
    return str(run.info.run_id)


@pytest.fixture
def store(project_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """v1 champion, v3 challenger (newest), in the project copy's own store."""
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(project_copy)
    client = MlflowClient(tracking_uri=f"sqlite:///{project_copy / 'mlruns.db'}")
    experiment = client.create_experiment("reprokit", (project_copy / "mlartifacts").as_uri())
    client.create_registered_model(MODEL)
    runs = {v: _register(client, experiment, v, auc) for v, auc in ROC_AUC.items()}
    client.set_registered_model_alias(MODEL, "champion", "1")
    client.set_registered_model_alias(MODEL, "challenger", "3")
    return Store(client=client, runs=runs)


def invoke(command: Any, args: Sequence[str]) -> Result:
    # The commands themselves, not `main`: main reconfigures the process's logging.
    return CliRunner().invoke(command, list(args), catch_exceptions=False)


def aliases(store: Store) -> dict[str, str]:
    registered = store.client.get_registered_model(MODEL)
    return {str(alias): str(version) for alias, version in registered.aliases.items()}


def test_models_lists_versions_newest_first_with_aliases_fingerprint_run_and_metric(
    store: Store,
) -> None:
    result = invoke(models, ["--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert (listed["model"], listed["metric"], listed["direction"]) == (
        MODEL,
        "roc_auc",
        "maximize",
    )
    rows = {str(row["version"]): row for row in listed["versions"]}
    assert [row["version"] for row in listed["versions"]] == [3, 2, 1]
    assert rows["1"]["aliases"] == ["champion"]
    assert rows["3"]["aliases"] == ["challenger"]
    assert rows["2"]["aliases"] == []
    for version, auc in ROC_AUC.items():
        assert rows[version]["run_id"] == store.runs[version]
        assert rows[version]["metric"] == pytest.approx(auc)
        assert rows[version]["fingerprint"].startswith(version * 12)


def test_models_table_shows_one_line_per_version(store: Store) -> None:
    result = invoke(models, [])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "key metric roc_auc (maximize)" in lines[0]
    body = {line.split()[0]: line for line in lines[2:]}
    assert set(body) == {"1", "2", "3"}
    assert "champion" in body["1"]
    assert "challenger" in body["3"]
    assert store.runs["2"] in body["2"]
    assert "0.78" in body["2"]


def test_models_limit_shows_the_newest(store: Store) -> None:
    listed = json.loads(invoke(models, ["--json", "--limit", "1"]).stdout)
    assert [row["version"] for row in listed["versions"]] == [3]


def test_promote_moves_champion_and_records_reason_and_user(store: Store) -> None:
    result = invoke(promote, ["2", "--reason", "better on the holdout review"])
    assert result.exit_code == 0, result.output
    assert "champion v2 (was v1)" in result.stdout
    assert aliases(store) == {"champion": "2", "challenger": "3"}
    tags = store.client.get_model_version(MODEL, "2").tags
    assert tags["rk.promotion"] == "better on the holdout review"
    assert tags["rk.promoted_by"] == getpass.getuser()
    assert tags["rk.previous_champion"] == "1"
    assert tags["rk.promoted_at"].endswith("+00:00")


def test_promote_clears_the_canary_rollback_it_overrides(store: Store) -> None:
    # What a serving worker writes when its canary of v3 fails (the alias stays on v3).
    uri = store.client.tracking_uri
    tag_rolled_back(RegistryVersion(uri, MODEL, "3"), "error rate 0.400 > 0.05", kept="m:v1")
    result = invoke(promote, ["3", "--reason", "the bad input source is fixed"])
    assert result.exit_code == 0, result.output
    assert "cleared its canary rollback (error rate 0.400 > 0.05)" in result.stdout
    tags = store.client.get_model_version(MODEL, "3").tags
    assert not {ROLLED_BACK_TAG, ROLLBACK_REASON_TAG, ROLLBACK_KEPT_TAG} & set(tags)
    assert tags[PROMOTION_REASON_TAG] == "the bad input source is fixed"
    assert aliases(store)["champion"] == "3"
    # A version that was never rolled back has nothing to clear, and says nothing of it.
    again = invoke(promote, ["2", "--reason", "x"])
    assert again.exit_code == 0 and "rollback" not in again.stdout


def test_promote_accepts_an_alias(store: Store) -> None:
    result = invoke(promote, ["challenger", "--reason", "canary looked fine"])
    assert result.exit_code == 0, result.output
    assert aliases(store)["champion"] == "3"


def test_promote_of_the_champion_says_so(store: Store) -> None:
    result = invoke(promote, ["1", "--reason", "re-affirmed"])
    assert result.exit_code == 0, result.output
    assert "already the champion" in result.stdout
    assert aliases(store)["champion"] == "1"


def test_promote_unknown_version_fails_clearly_and_changes_nothing(store: Store) -> None:
    result = invoke(promote, ["9", "--reason", "typo"])
    assert result.exit_code == 1
    assert "model 'reprokit-credit' has no version '9'; versions: 1, 2, 3" in result.stderr
    assert "Traceback" not in result.output
    assert aliases(store)["champion"] == "1"


def test_promote_unknown_model_names_the_registered_ones(store: Store) -> None:
    result = invoke(promote, ["1", "--reason", "x", "--model", "no-such-model"])
    assert result.exit_code == 1
    assert "no registered model 'no-such-model'" in result.stderr
    assert "registered models: ['reprokit-credit']" in result.stderr


def test_models_unknown_model_fails_clearly(store: Store) -> None:
    result = invoke(models, ["--model", "no-such-model"])
    assert result.exit_code == 1
    assert "no registered model 'no-such-model'" in result.stderr


@pytest.mark.parametrize("args", [["2"], ["2", "--reason", "   "]])
def test_promote_requires_a_reason(store: Store, args: list[str]) -> None:
    result = invoke(promote, args)
    assert result.exit_code == 2
    assert "--reason" in result.output
    assert aliases(store)["champion"] == "1"


def test_without_a_configured_model_the_error_asks_for_one(
    store: Store, project_copy: Path
) -> None:
    params_path = project_copy / "params.yaml"
    params = yaml.safe_load(params_path.read_text(encoding="utf-8"))
    params["tracking"]["registered_model"] = None
    params_path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    result = invoke(promote, ["2", "--reason", "x"])
    assert result.exit_code == 1
    assert "pass --model NAME" in result.stderr
    assert invoke(promote, ["2", "--reason", "x", "--model", MODEL]).exit_code == 0


def test_the_reprokit_command_has_both() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "promote" in result.stdout
    assert "models" in result.stdout
