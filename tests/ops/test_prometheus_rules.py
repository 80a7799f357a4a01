"""The generated Prometheus rules, checked and unit-tested by Prometheus' own promtool:
each alert fires on the series it is meant for, and not on healthy ones."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import PROJECT_ROOT

from reprokit.config.models import AlertsConfig
from reprokit.ops.generate import render
from reprokit.ops.prometheus import rules


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing: `make ops-tools` installs Debian's prometheus")
        pytest.skip("promtool not installed (`make ops-tools`)")
    return found


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, check=False)


def test_committed_files_pass_promtool_check() -> None:
    prometheus = PROJECT_ROOT / "ops" / "prometheus"
    checked = _promtool("check", "config", str(prometheus / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    rendered = ",".join(f'{key}="{value}"' for key, value in {"job": "reprokit", **labels}.items())
    return {"series": f"{name}{{{rendered}}}", "values": values}


def _expect(alert: str, at: str, *firing: dict[str, Any]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": alert, "exp_alerts": list(firing)}


def _firing(summary: str, severity: str, **labels: str) -> dict[str, Any]:
    return {
        "exp_labels": {"severity": severity, "job": "reprokit", **labels},
        "exp_annotations": {"summary": summary},
    }


CASES: dict[str, dict[str, Any]] = {
    "input drift, not prediction shift": {
        "input_series": [
            _series("reprokit_drift_alarm", "0 1x20", model="m", column="income"),
            _series("reprokit_drift_alarm", "0x20", model="m", column="prediction"),
        ],
        "alert_rule_test": [
            _expect("ReprokitInputDrift", "3m"),  # raised, but not for `hold` yet
            _expect(
                "ReprokitInputDrift",
                "10m",
                _firing(
                    "m: input column income drifted from training",
                    "warning",
                    model="m",
                    column="income",
                ),
            ),
            _expect("ReprokitPredictionShift", "10m"),
        ],
    },
    "error rate over 5%, rejected rate under 20%": {
        "input_series": [
            _series("reprokit_requests_total", "0+100x30", model="m", outcome="ok"),
            _series("reprokit_requests_total", "0+10x30", model="m", outcome="server_error"),
            _series("reprokit_requests_total", "0+5x30", model="m", outcome="rate_limited"),
        ],
        "alert_rule_test": [
            _expect(
                "ReprokitErrorRate",
                "20m",
                _firing("m: 8.696% of answers are 5xx/504", "critical", model="m"),
            ),
            _expect("ReprokitRejectedRate", "20m"),
        ],
    },
    "p99 latency over the bound": {
        "input_series": [
            _series("reprokit_request_duration_seconds_bucket", "0+50x30", model="m", le="0.1"),
            _series("reprokit_request_duration_seconds_bucket", "0+100x30", model="m", le="1"),
            _series("reprokit_request_duration_seconds_bucket", "0+100x30", model="m", le="+Inf"),
        ],
        "alert_rule_test": [
            _expect(
                "ReprokitHighLatency",
                "20m",
                _firing("m: p99 latency 982ms", "warning", model="m"),
            )
        ],
    },
    "a new champion version, and stale gauges": {
        "input_series": [
            _series("reprokit_model_info", "1x120", role="champion", tag="m:a", version="1"),
            _series("reprokit_model_info", "_x90 1x30", role="champion", tag="m:b", version="2"),
            # m:c ramped as a canary and was rolled back: no champion change, one rollback.
            _series("reprokit_model_info", "_x60 1x20 0x40", role="canary", tag="m:c", version="3"),
            _series(
                "reprokit_canary_rollbacks_total", "_x60 0x20 1x40", model="m:c", reason="drift"
            ),
            _series("reprokit_drift_last_request_timestamp_seconds", "0x120", model="m:a"),
        ],
        "alert_rule_test": [
            _expect(
                "ReprokitModelVersionChanged",
                "100m",
                _firing("champion is now m:b (version 2)", "info", tag="m:b", version="2"),
            ),
            _expect("ReprokitModelVersionChanged", "75m"),
            _expect(
                "ReprokitCanaryRolledBack",
                "82m",
                _firing(
                    "m:c: its canary ramp was rolled back (drift)",
                    "warning",
                    model="m:c",
                    reason="drift",
                ),
            ),
            _expect(
                "ReprokitDriftGaugesStale",
                "10m",
                _firing(
                    "m:a: no request for 10m 0s; its drift gauges show old traffic",
                    "info",
                    model="m:a",
                ),
            ),
        ],
    },
    "a service that stops answering": {
        "input_series": [_series("up", "1 1 0x10", instance="127.0.0.1:3000")],
        "alert_rule_test": [
            _expect(
                "ReprokitServiceDown",
                "10m",
                _firing(
                    "127.0.0.1:3000: the model service does not answer its /metrics scrape",
                    "critical",
                    instance="127.0.0.1:3000",
                ),
            )
        ],
    },
}


def test_every_alert_fires_as_intended(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.yml"
    alerts = AlertsConfig(stale_after="5m", evaluation_interval="1m")
    rules_file.write_text(yaml.safe_dump(rules(alerts, "test")), encoding="utf-8")
    tested = {alert["alertname"] for case in CASES.values() for alert in case["alert_rule_test"]}
    groups = rules(alerts, "test")["groups"]
    defined = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    assert defined <= tested  # every alert has a case
    suite = {
        "rule_files": [str(rules_file)],
        "evaluation_interval": "1m",
        "tests": [{"name": name, "interval": "1m", **case} for name, case in CASES.items()],
    }
    tests_file = tmp_path / "rules_test.yml"
    tests_file.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    result = _promtool("test", "rules", str(tests_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_committed_files_are_what_the_config_generates() -> None:
    from reprokit.config.compose import load_config

    for relative, text in render(load_config(PROJECT_ROOT), PROJECT_ROOT).items():
        assert (PROJECT_ROOT / relative).read_text(encoding="utf-8") == text, relative


def test_the_dashboard_reads_back_as_grafanas_model_and_queries_only_exported_metrics() -> None:
    import json
    import re

    from grafana_foundation_sdk.models.dashboard import Dashboard

    from reprokit.ops.grafana import dashboard_json

    text = dashboard_json(AlertsConfig(), "reprokit-credit")
    board = Dashboard.from_json(json.loads(text))
    assert [panel.title for panel in board.panels] == [
        "Requests by outcome",
        "Latency",
        "Predictions (quantiles)",
        "Drift (PSI per column)",
        "Columns in drift alarm",
        "Rows in the drift window",
        "Serving models",
    ]
    exprs = [target["expr"] for panel in json.loads(text)["panels"] for target in panel["targets"]]
    metrics = {name for expr in exprs for name in re.findall(r"\b(reprokit_[a-z_]+)\{", expr)}
    exported = {
        "reprokit_requests_total",
        "reprokit_request_duration_seconds_bucket",
        "reprokit_prediction_bucket",
        "reprokit_drift_psi",
        "reprokit_drift_alarm",
        "reprokit_drift_window_rows",
        "reprokit_model_info",
    }
    assert metrics == exported
    assert all('job="reprokit"' in expr for expr in exprs)
