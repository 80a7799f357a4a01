"""The peer baseline of bench_serving.py: the small FastAPI app a user would write instead of
reprokit's service. It takes feature vectors, so it does none of the schema and features
work the service does, and scores them with `Booster.predict` on the same LightGBM model.

    python bench/serving_peer.py PORT MODEL_DIR      # one uvicorn worker on 127.0.0.1

No `from __future__ import annotations` here: FastAPI reads the body model from the
endpoint's annotation at run time.
"""

import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict


class Rows(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[list[float | None]]  # null: a missing value (NaN to LightGBM)


def peer_app(model_dir: Path) -> FastAPI:
    booster = lgb.Booster(model_str=(model_dir / "model.txt").read_text())
    app = FastAPI()

    @app.get("/livez")
    def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    def predict(body: Rows) -> dict[str, list[float]]:
        matrix = np.asarray(body.rows, dtype=np.float64)
        scores = np.asarray(booster.predict(matrix, num_threads=1))
        return {"predictions": scores.tolist()}

    return app


if __name__ == "__main__":
    port, model_dir = sys.argv[1:3]
    uvicorn.run(peer_app(Path(model_dir)), host="127.0.0.1", port=int(port), log_level="warning")
