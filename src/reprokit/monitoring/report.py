"""The monitoring report: one self-contained HTML file (Jinja2, figures as base64 PNGs, no
scripts or network fetches) and the JSON summary, both written atomically."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprokit.datasets import atomic_path
from reprokit.monitoring.drift import ColumnDrift

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPORT_DIR = "data/08_reporting/monitoring"
# A report shows every drifted column; a long tail of stable ones is left to the table.
MAX_FIGURES = 30

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>reprokit monitoring: {{ summary.status }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1100px; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
.alarm { color: #b00020; font-weight: bold; } .ok { color: #1b7f3b; font-weight: bold; }
tr.drifted { background: #fde8ea; }
figure { display: inline-block; margin: 0.5em; } img { width: 480px; }
</style></head><body>
<h1>Monitoring report: <span class="{{ summary.status }}">{{ summary.status | upper }}</span></h1>
<p>{{ summary.rows }} current row(s), checked {{ summary.created }} against the reference of
{{ summary.reference.source }}{% if summary.reference.run_id %} (MLflow run
<code>{{ summary.reference.run_id }}</code>){% endif %}: model
<code>{{ summary.reference.model_sha256[:12] }}</code>, {{ summary.reference.feature_rows }}
training rows, {{ summary.reference.prediction_rows }} test predictions. Predictions
{{ "read from the file" if summary.scored_by == "file" else "scored with the model" }}.</p>
{% if summary.alarms %}<h2>Alarms</h2><ul>
{% for alarm in summary.alarms %}<li class="alarm">{{ alarm }}</li>{% endfor %}</ul>{% endif %}
<h2>Drift</h2>
<p>Thresholds: PSI &ge; {{ summary.thresholds.psi_threshold }} or KS &ge;
{{ summary.thresholds.ks_threshold }}, and p &lt; {{ summary.thresholds.alpha }}.</p>
<table><tr><th>column</th><th>kind</th><th>PSI</th><th>test</th><th>statistic</th>
<th>p-value</th><th>null rate (ref &rarr; cur)</th><th>drift</th></tr>
{% for c in rows %}<tr class="{{ 'drifted' if c.drifted else '' }}"><td>{{ c.name }}</td>
<td>{{ c.kind }}</td><td>{{ "%.4f" | format(c.psi) }}</td><td>{{ c.test }}</td>
<td>{{ "%.4g" | format(c.statistic) }}</td><td>{{ "%.3g" | format(c.p_value) }}</td>
<td>{{ "%.1f%%" | format(100 * c.null_rate_reference) }} &rarr;
{{ "%.1f%%" | format(100 * c.null_rate_current) }}</td>
<td>{{ "yes" if c.drifted else "no" }}</td></tr>{% endfor %}</table>
{% if summary.findings %}<h2>Data quality</h2><ul>
{% for f in summary.findings %}<li class="{{ 'alarm' if f.severity == 'alarm' else '' }}">
{{ f.check }}: {{ f.message }}</li>{% endfor %}</ul>{% endif %}
{% if summary.performance.labelled_rows %}<h2>Performance ({{ summary.performance.labelled_rows }}
labelled rows)</h2>
<table><tr><th>metric</th><th>reference</th><th>current</th><th>degraded</th></tr>
{% for m in summary.performance.checks %}<tr class="{{ 'drifted' if m.degraded else '' }}">
<td>{{ m.metric }}</td><td>{{ "%.4f" | format(m.reference) }}</td>
<td>{{ "%.4f" | format(m.current) if m.current is not none else "-" }}</td>
<td>{{ "yes" if m.degraded else "no" }}</td></tr>{% endfor %}</table>
<p>All metrics on this batch: {% for k, v in summary.performance.current.items() %}{{ k }}
{{ "%.4f" | format(v) if v is not none else "-" }}{{ ", " if not loop.last }}{% endfor %}</p>
{% endif %}
<h2>Distributions</h2>
{% for name, image in figures %}<figure>
<img alt="{{ name }}" src="data:image/png;base64,{{ image }}">
<figcaption>{{ name }}</figcaption></figure>{% endfor %}
</body></html>
"""


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    json: Path


def distribution_figure(column: ColumnDrift) -> Figure:
    """Reference vs current share of rows per bin, side by side."""
    import numpy as np
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.6), layout="constrained")
    axes = figure.add_subplot()
    positions = np.arange(len(column.labels))
    axes.bar(positions - 0.2, column.reference, width=0.4, label="reference")
    axes.bar(positions + 0.2, column.current, width=0.4, label="current")
    axes.set_xticks(positions, column.labels, rotation=45, ha="right", fontsize=7)
    axes.set_ylabel("share of rows")
    verdict = "DRIFT" if column.drifted else "stable"
    axes.set_title(
        f"{column.name}: PSI {column.psi:.3f}, {column.test} {column.statistic:.3g} ({verdict})"
    )
    axes.legend()
    return figure


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def render_html(
    summary: dict[str, Any], columns: list[ColumnDrift], prediction: ColumnDrift
) -> str:
    """The report: the prediction distribution and every drifted column, as figures."""
    import jinja2

    plotted = [prediction, *[c for c in columns if c.drifted]][:MAX_FIGURES]
    figures = [(c.name, _png(distribution_figure(c))) for c in plotted]
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    rows = [prediction.as_dict(), *[c.as_dict() for c in columns]]
    return environment.from_string(TEMPLATE).render(summary=summary, rows=rows, figures=figures)


def report_paths(directory: Path, created: str) -> ReportPaths:
    """`<directory>/<YYYYMMDD-HHMMSS>-report.{html,json}` from the analysis time (UTC)."""
    stamp = created.replace("-", "").replace(":", "").replace("T", "-")[:15]
    # Two checks within one second must not overwrite each other's report.
    for suffix in ["", *(f"-{n}" for n in range(2, 100))]:
        paths = ReportPaths(
            html=directory / f"{stamp}{suffix}-report.html",
            json=directory / f"{stamp}{suffix}-report.json",
        )
        if not paths.html.exists() and not paths.json.exists():
            return paths
    return paths


def write_report(paths: ReportPaths, summary: dict[str, Any], html: str) -> ReportPaths:
    with atomic_path(paths.json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    with atomic_path(paths.html) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return paths
