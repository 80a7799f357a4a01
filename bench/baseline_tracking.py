"""The tracking a good engineer would write by hand: the floor for reprokit's `track` stage.

    python bench/baseline_tracking.py STORE_DB ARTIFACTS_DIR PROJECT_DIR

One process, as the `track` stage is one: import MLflow, open the SQLite store, create a
run with a few identity tags, log the params and metrics in one batch, log the model file
and the metrics file, register the model file as a new version (no MLflow model: no
signature, input example or environment) and give it an alias. No fingerprint, no
identity checks, no figures, no promotion rule. Prints the run id.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MODEL = Path("data/06_models/model.txt")
METRICS = Path("data/08_reporting/metrics.json")
PARAMS = Path("params.yaml")


def main(store: Path, artifacts: Path, project: Path) -> str:
    import yaml
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("baseline")
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else client.create_experiment("baseline", artifacts.as_uri())
    )
    run = client.create_run(experiment_id, tags={"entry_point": "baseline"})
    run_id = run.info.run_id
    params = yaml.safe_load((project / PARAMS).read_text(encoding="utf-8"))
    model_params = {f"model.{k}": str(v) for k, v in (params.get("model") or {}).items()}
    metrics = json.loads((project / METRICS).read_text(encoding="utf-8"))
    numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
    client.log_batch(
        run_id,
        params=[Param(k, v) for k, v in list(model_params.items())[:100]],
        metrics=[Metric(k, v, 0, 0) for k, v in numeric.items()],
        tags=[RunTag("model_file", str(MODEL))],
    )
    client.log_artifact(run_id, str(project / MODEL), "model")
    client.log_artifact(run_id, str(project / METRICS), "metrics")
    client.set_terminated(run_id, "FINISHED")
    name = "baseline-model"
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(
        name, f"{run.info.artifact_uri}/model/{MODEL.name}", run_id=run_id
    )
    client.set_registered_model_alias(name, "challenger", version.version)
    return str(run_id)


if __name__ == "__main__":
    print(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
