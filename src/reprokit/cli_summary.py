"""The lines `reprokit run` ends with: what the run measured, what the registry now says about
its model, where the run and its outputs are. Pure rendering; the CLI gathers the facts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from reprokit.config.models import ReprokitConfig
from reprokit.layout import LastRun
from reprokit.runner import DEFAULT_PIPELINE
from reprokit.tracking.run_view import runs_page


def written_files(config: ReprokitConfig, root: Path, pipelines: Sequence[str]) -> list[Path]:
    """The catalog files the nodes of `pipelines` write, relative to the project root."""
    declared = config.pipeline.pipelines
    nodes = (
        list(config.pipeline.nodes)
        if DEFAULT_PIPELINE in pipelines
        else [node for name in pipelines for node in declared.get(name, [])]
    )
    outputs = {out for node in nodes for out in config.pipeline.nodes[node].output_names}
    paths = []
    for dataset in sorted(outputs):
        filepath = config.catalog.get(dataset, {}).get("filepath")
        if filepath:
            path = Path(filepath)
            paths.append(path.relative_to(root) if path.is_relative_to(root) else path)
    return paths


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.4f}"


def _metrics_line(metrics: Mapping[str, float], primary: str) -> str:
    ordered = sorted(metrics, key=lambda name: (name != primary, name))
    return "  ".join(f"{name} {_number(metrics[name])}" for name in ordered)


def _model_line(last: LastRun) -> str:
    if last.model_version is None:
        return "none registered (this run trained no model, or tracking.registered_model is null)"
    aliases = f" [{', '.join(last.model_aliases)}]" if last.model_aliases else ""
    return f"{last.registered_model} v{last.model_version}{aliases}"


def _outputs_line(files: Sequence[Path]) -> str:
    """Counted per folder: the layers (04_feature, 06_models, ...) say what they are."""
    if not files:
        return "none written"
    per_folder = Counter(str(path.parent) for path in files)
    return ", ".join(f"{folder}/ ({count})" for folder, count in sorted(per_folder.items()))


def _ui_line(uri: str, experiment_id: str) -> str:
    """Where the runs table opens with the metric columns (a server's own address, else
    `mlflow ui`'s default one)."""
    page = runs_page(experiment_id)
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/") + page
    return f"mlflow ui --backend-store-uri {uri}, then http://127.0.0.1:5000{page}"


def this_run(before: LastRun | None, after: LastRun | None) -> LastRun | None:
    """The record the run just wrote: None when it wrote none (tracking off)."""
    if after is None or (before is not None and before.run_id == after.run_id):
        return None
    return after


def render_run_summary(
    last: LastRun | None, *, primary_metric: str, outputs: Sequence[Path]
) -> list[str]:
    """`last`: this run's record, None when the run was not tracked."""
    if last is None:
        return [
            "run finished, not tracked (tracking.enabled is false)",
            f"  outputs  {_outputs_line(outputs)}",
        ]
    lines = [f"run {last.run_id} finished ({last.entry_point}); quality gate: {last.gate}"]
    if last.metrics:
        lines.append(f"  metrics  {_metrics_line(last.metrics, primary_metric)}")
    lines += [
        f"  model    {_model_line(last)}",
        f"  outputs  {_outputs_line(outputs)}",
        f"  MLflow   {last.tracking_uri}  (details: reprokit lineage {last.run_id})",
    ]
    if last.experiment_id is not None:
        lines.append(f"  UI       {_ui_line(last.tracking_uri, last.experiment_id)}")
    return lines
