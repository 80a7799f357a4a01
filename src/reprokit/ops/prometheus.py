"""Prometheus recording and alert rules, and a scrape config, for the served model.

Pure: `serving.alerts` (and the metric names the service exports) in, YAML-ready dicts out.
The rules read only what `bentoml serve` exposes on `/metrics`: reprokit's request counter
and latency histogram (reprokit.serving.metrics), the champion's `reprokit_model_info`, and
the live drift gauges (reprokit.monitoring.live), whose alarm already applies the PSI
threshold and hysteresis of `monitoring`, so no threshold is repeated here.
"""

from __future__ import annotations

from typing import Any

from reprokit.config.models import AlertsConfig
from reprokit.nodes.profile import PREDICTION

RULES_FILE = "rules.yml"

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(duration: str) -> int:
    return int(duration[:-1]) * _SECONDS[duration[-1]]


def _recording_rules(job: str, window: str) -> list[dict[str, Any]]:
    selector = f'job="{job}"'
    return [
        {
            "record": "reprokit:requests:rate",
            "expr": f"sum by (job, model, outcome) (rate(reprokit_requests_total{{{selector}}}"
            f"[{window}]))",
        },
        {
            "record": "reprokit:request_duration_seconds:p99",
            "expr": "histogram_quantile(0.99, sum by (job, model, le) "
            f"(rate(reprokit_request_duration_seconds_bucket{{{selector}}}[{window}])))",
        },
    ]


def _share(outcomes: str, job: str) -> str:
    """The share of answers with one of `outcomes` (a regex), per model."""
    total = f'sum by (job, model) (reprokit:requests:rate{{job="{job}"}})'
    part = f'sum by (job, model) (reprokit:requests:rate{{job="{job}", outcome=~"{outcomes}"}})'
    return f"({part} / {total})"


def _alert(name: str, expr: str, hold: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": hold,
        "labels": {"severity": severity},
        "annotations": {"summary": summary},
    }


def _alert_rules(alerts: AlertsConfig) -> list[dict[str, Any]]:
    job, hold = alerts.job, alerts.hold
    drift = f'reprokit_drift_alarm{{job="{job}", column!="{PREDICTION}"}}'
    shift = f'reprokit_drift_alarm{{job="{job}", column="{PREDICTION}"}}'
    champion = f'reprokit_model_info{{job="{job}", role="champion"}}'
    last_seen = f'reprokit_drift_last_request_timestamp_seconds{{job="{job}"}}'
    rollbacks = f'reprokit_canary_rollbacks_total{{job="{job}"}}'
    return [
        _alert(
            "ReprokitServiceDown",
            f'up{{job="{job}"}} == 0',
            hold,
            "critical",
            "{{ $labels.instance }}: the model service does not answer its /metrics scrape",
        ),
        _alert(
            "ReprokitInputDrift",
            f"max by (job, model, column) ({drift}) == 1",
            hold,
            "warning",
            "{{ $labels.model }}: input column {{ $labels.column }} drifted from training",
        ),
        _alert(
            "ReprokitPredictionShift",
            f"max by (job, model) ({shift}) == 1",
            hold,
            "warning",
            "{{ $labels.model }}: the distribution of predictions shifted from training",
        ),
        _alert(
            "ReprokitErrorRate",
            f"{_share('server_error|timeout', job)} > {alerts.error_rate}",
            hold,
            "critical",
            "{{ $labels.model }}: {{ $value | humanizePercentage }} of answers are 5xx/504",
        ),
        _alert(
            "ReprokitRejectedRate",
            f"{_share('rate_limited', job)} > {alerts.rejected_rate}",
            hold,
            "warning",
            "{{ $labels.model }}: {{ $value | humanizePercentage }} of requests are rate limited",
        ),
        _alert(
            "ReprokitHighLatency",
            f'reprokit:request_duration_seconds:p99{{job="{job}"}} > {alerts.p99_latency_seconds}',
            hold,
            "warning",
            "{{ $labels.model }}: p99 latency {{ $value | humanizeDuration }}",
        ),
        # A champion version serving now that was not an hour ago: a model change, for the
        # record next to any alert it may explain.
        _alert(
            "ReprokitModelVersionChanged",
            f"group by (job, tag, version) ({champion}) unless "
            f"group by (job, tag, version) ({champion} offset 1h)",
            "0s",
            "info",
            "champion is now {{ $labels.tag }} (version {{ $labels.version }})",
        ),
        # The service rolled a canary back (reprokit.serving.canary): the series exist at 0
        # from the ramp's start, so the first rollback is an increase.
        _alert(
            "ReprokitCanaryRolledBack",
            f"sum by (job, model, reason) (increase({rollbacks}[{alerts.window}])) > 0",
            "0s",
            "warning",
            "{{ $labels.model }}: its canary ramp was rolled back ({{ $labels.reason }})",
        ),
        _alert(
            "ReprokitDriftGaugesStale",
            f"time() - max by (job, model) ({last_seen}) > {seconds(alerts.stale_after)}",
            "0s",
            "info",
            "{{ $labels.model }}: no request for {{ $value | humanizeDuration }}; "
            "its drift gauges show old traffic",
        ),
    ]


def rules(alerts: AlertsConfig, group: str) -> dict[str, Any]:
    """The rules file: one group of recording rules, one of alerts."""
    return {
        "groups": [
            {
                "name": f"{group}.recording",
                "interval": alerts.evaluation_interval,
                "rules": _recording_rules(alerts.job, alerts.window),
            },
            {
                "name": f"{group}.alerts",
                "interval": alerts.evaluation_interval,
                "rules": _alert_rules(alerts),
            },
        ]
    }


def scrape_config(alerts: AlertsConfig) -> dict[str, Any]:
    """A prometheus.yml that scrapes the service and loads the rules beside it."""
    return {
        "global": {
            "scrape_interval": alerts.scrape_interval,
            "evaluation_interval": alerts.evaluation_interval,
        },
        "rule_files": [RULES_FILE],
        "scrape_configs": [
            {
                "job_name": alerts.job,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": list(alerts.targets)}],
            }
        ],
    }
