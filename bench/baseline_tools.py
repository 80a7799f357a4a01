"""Hand-written peer for `bench_repro.py`: what reprokit's `track`, `package` and
`materialize` stages do, written directly against MLflow, BentoML and Feast.

`baseline_pipeline.py` does the work of the ML stages; this script does the rest of a full
run, the way an engineer gluing the tools by hand would, in one process (each tool's import
counted in its step, as in a script):

- mlflow: a run in the project's tracking store with the model params and the metrics, the
  figures as artifacts, and the model logged with its own flavour (`mlflow.lightgbm`,
  signature from an input example) and registered;
- bentoml: the model file saved into a BentoML model store (`bentoml.models.create`);
- feast: the project's generated feature repo applied to a registry and online store of its
  own, and the whole table materialized into it (`FeatureStore.apply`, `.materialize`).

It reads what the pipeline's stages wrote (model, metrics, figures, test features, the
feature repo), never reprokit's code.

    python bench/baseline_tools.py PROJECT OUT_DIR [--steps mlflow,bentoml,feast]

Writes OUT_DIR/timings.json (seconds per step). Everything else it creates is under OUT_DIR
(the BentoML store, the Feast registry and online store), but the MLflow run and the model
version, which go to the project's own store under experiment `bench-baseline-tools`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

# Run as `python bench/<script>.py`: this folder is first on sys.path.
from _steps import Timer

EXPERIMENT = "bench-baseline-tools"
REGISTERED_MODEL = "bench-baseline-tools"
MODEL = "data/06_models/model.txt"
METRICS = "data/08_reporting/metrics.json"
FIGURES = "data/08_reporting/figures"
TEST_FEATURES = "data/05_model_input/test_features.parquet"
FEATURE_REPO = "feature_repo"
# The peer's own feature repo: a sibling of the project's, so the source paths the generated
# definitions give relative to their repo resolve to the same table.
PEER_REPO = "feature_repo_bench_peer"
TARGET = "default"
ID_COLUMN = "customer_id"
INPUT_EXAMPLE_ROWS = 5


def params(project: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    return loaded


def log_to_mlflow(project: Path, config: dict[str, Any]) -> None:
    import lightgbm as lgb
    import mlflow
    import pandas as pd

    metrics = json.loads((project / METRICS).read_text(encoding="utf-8"))
    example = pd.read_parquet(project / TEST_FEATURES).head(INPUT_EXAMPLE_ROWS)
    example = example.drop(columns=[TARGET, ID_COLUMN])
    booster = lgb.Booster(model_file=str(project / MODEL))
    # A relative sqlite URI resolves against the working directory: the project.
    mlflow.set_tracking_uri(config["tracking"]["uri"])
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run():
        mlflow.log_params(config["model"])
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.log_artifacts(str(project / FIGURES), "figures")
        mlflow.lightgbm.log_model(
            booster,
            name="model",
            input_example=example,
            registered_model_name=REGISTERED_MODEL,
        )


def save_to_bentoml(project: Path, out_dir: Path) -> None:
    os.environ["BENTOML_HOME"] = str(out_dir / "bentoml")
    import bentoml

    metrics = json.loads((project / METRICS).read_text(encoding="utf-8"))
    with bentoml.models.create("credit", metadata=metrics) as model:
        shutil.copy2(project / MODEL, model.path_of("model.txt"))


def peer_feature_repo(project: Path, out_dir: Path) -> Path:
    """The project's feature repo with its registry and online store moved under out_dir."""
    peer = project / PEER_REPO
    shutil.rmtree(peer, ignore_errors=True)
    peer.mkdir()
    shutil.copy2(project / FEATURE_REPO / "features.py", peer / "features.py")
    store: dict[str, Any] = yaml.safe_load(
        (project / FEATURE_REPO / "feature_store.yaml").read_text(encoding="utf-8")
    )
    state = out_dir / "feast"
    state.mkdir(parents=True, exist_ok=True)
    store["registry"] = str(state / "registry.db")
    store["online_store"]["path"] = str(state / "online_store.db")
    (peer / "feature_store.yaml").write_text(yaml.safe_dump(store), encoding="utf-8")
    return peer


def materialize_with_feast(project: Path, out_dir: Path) -> None:
    import importlib.util

    import feast

    repo = peer_feature_repo(project, out_dir)
    try:
        spec = importlib.util.spec_from_file_location("bench_peer_features", repo / "features.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        kinds = (feast.Entity, feast.FeatureView, feast.FeatureService)
        objects: list[Any] = [v for v in vars(module).values() if isinstance(v, kinds)]
        store = feast.FeatureStore(repo_path=str(repo))
        store.apply(objects)
        # Every row: a window from the epoch to now (the table's event times are in the past).
        store.materialize(start_date=datetime(1970, 1, 1, tzinfo=UTC), end_date=datetime.now(UTC))
    finally:
        shutil.rmtree(repo, ignore_errors=True)


STEPS = ("mlflow", "bentoml", "feast")


def run(project: Path, out_dir: Path, steps: tuple[str, ...] = STEPS) -> dict[str, float]:
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    timer = Timer()
    config = params(project)
    if "mlflow" in steps:
        with timer.step("mlflow"):
            log_to_mlflow(project, config)
    if "bentoml" in steps:
        with timer.step("bentoml"):
            save_to_bentoml(project, out_dir)
    if "feast" in steps:
        with timer.step("feast"):
            materialize_with_feast(project, out_dir)
    (out_dir / "timings.json").write_text(json.dumps(timer.seconds, indent=2), encoding="utf-8")
    return timer.seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument(
        "--steps", default=",".join(STEPS), help=f"comma-separated, of {', '.join(STEPS)}"
    )
    args = parser.parse_args(argv)
    steps = tuple(step for step in args.steps.split(",") if step)
    if unknown := sorted(set(steps) - set(STEPS)):
        parser.error(f"--steps: unknown {', '.join(unknown)}; expected some of {', '.join(STEPS)}")
    seconds = run(args.project.resolve(), args.out_dir.resolve(), steps)
    print(json.dumps(seconds))


if __name__ == "__main__":
    main()
