"""reprokit: declarative, config-driven ML pipelines (Hydra -> Kedro -> DVC, LightGBM)."""

__version__ = "0.1.0"
