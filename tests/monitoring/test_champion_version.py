"""`reprokit monitor`'s champion: the version the `champion` alias names, with its aliases
and run, from one registry read. A real MLflow SQLite registry."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from reprokit.monitoring.reference import RegisteredVersion, champion_version


class Counted:
    """A real MLflow client that notes each method called through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if callable(attribute):
            self.calls.append(name)
        return attribute


def test_the_champion_is_the_aliased_version_read_once(
    tmp_path: Path, mlflow_db_template: Path
) -> None:
    from mlflow import MlflowClient

    shutil.copy(mlflow_db_template, tmp_path / "mlruns.db")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlruns.db'}")
    run = client.create_run(client.create_experiment("e")).info.run_id
    client.create_registered_model("m")
    for _ in range(2):  # one run, two versions: the newer one is not the champion
        client.create_model_version("m", source=str(tmp_path), run_id=run)
    client.set_registered_model_alias("m", "champion", "1")
    client.set_registered_model_alias("m", "challenger", "1")
    counted = Counted(client)

    champion = champion_version(counted, "m")

    assert champion is not None and champion.run_id == run
    assert champion.registered == RegisteredVersion("m", "1", ("challenger", "champion"))
    assert champion.registered.label() == "m v1 @challenger @champion"
    assert counted.calls == ["get_model_version_by_alias"]
    assert champion_version(counted, None) is None  # no registered model configured
    client.delete_registered_model_alias("m", "champion")
    assert champion_version(client, "m") is None
