"""dvc.yaml generated from the declared pipelines: one stage per pipeline, never hand-written."""

from reprokit.dvcgen.generate import DVC_FILE, check_dvc_yaml, render_dvc_yaml, stages_for

__all__ = ["DVC_FILE", "check_dvc_yaml", "render_dvc_yaml", "stages_for"]
