"""dvc.yaml generated from the declared pipelines: one stage per pipeline, never hand-written."""

from reprokit.dvcgen.freshness import check_dvc_yaml_fresh
from reprokit.dvcgen.generate import DVC_FILE, check_dvc_yaml, render_dvc_yaml, stages_for

__all__ = ["DVC_FILE", "check_dvc_yaml", "check_dvc_yaml_fresh", "render_dvc_yaml", "stages_for"]
