"""Kedro's pipeline registry: the pipelines declared in params.yaml (from conf/pipeline)."""

from __future__ import annotations

from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    from reprokit.config.compose import find_project_root, load_config, read_params
    from reprokit.pipeline.spec import build_pipelines

    root = find_project_root()
    config = load_config(root)
    return build_pipelines(config.pipeline, read_params(root), config.catalog)
