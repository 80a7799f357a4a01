"""Checked by looking: the pages a newcomer opens after a run, rendered in a real headless
Chromium (Debian's package, `make browser-tools`; Playwright drives it) with the network
outside loopback cut off, and asserted on their DOM.

- MLflow's runs table, through the address `reprokit run` prints: model-training mode (not
  GenAI's traces overview), the primary and gate metrics as columns, the run's value in them.
- `dvc plots show`'s page after `reprokit dvc plots-page`: each declared plot once, every
  Vega plot drawn (not zero height) although the CDN DVC's own page uses is unreachable.
- MLflow's run page: the keys of hash tags (fingerprint, model sha256, commit) read whole.
- `reprokit monitor`'s Evidently report on drifted data: drawn, naming the drifted columns.

Screenshots go to the test's temp folder, or to $REPROKIT_SCREENSHOTS (`make screenshots`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support import copy_project, git_init, run, store_client
from tests.support.mlflow_server import mlflow_server
from tests.support.tools import stdout_of

from reprokit.core.names import FINGERPRINT_TAG, GIT_COMMIT_TAG, MODEL_SHA256_TAG
from reprokit.layout import read_last_run

pytestmark = pytest.mark.slow

LOAD_TIMEOUT_MS = 60_000
DRIFTED = {"income", "loan_amount", "purpose"}  # what `reprokit data generate --drift` changes


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _skip_unless_ci() -> None:
    """Without Chromium the test skips, saying why, but never under CI (which installs it)."""
    if _chromium() is None and os.environ.get("CI", "").lower() not in {"1", "true", "yes"}:
        pytest.skip("chromium absent: `make browser-tools` installs Debian's package")


@dataclass(frozen=True)
class Looked:
    root: Path
    ui: str  # the MLflow UI address the run summary printed, on this test's server
    plots: Path
    report: Path
    shots: Path


def _ui_page(summary: str) -> str:
    """The runs-table address of the summary's `UI` line, without its host."""
    match = re.search(r"^  UI .*?http://127\.0\.0\.1:5000(/#/\S+)$", summary, re.MULTILINE)
    assert match, f"no UI line in the run summary:\n{summary}"
    return match.group(1)


@pytest.fixture(scope="module")
def looked(tmp_path_factory: pytest.TempPathFactory, mlflow_db_template: Path) -> Iterator[Looked]:
    _skip_unless_ci()
    base = tmp_path_factory.mktemp("browser")
    root = copy_project(base / "project", mlflow_db_template)
    git_init(root)
    page = _ui_page(stdout_of(["reprokit", "run"], root))
    run(["reprokit", "dvc", "plots-page"], root)
    run(["dvc", "plots", "show", "-o", str(base / "plots")], root)
    batch = base / "drifted.parquet"
    run(
        [
            "reprokit",
            "data",
            "generate",
            "--rows",
            "2000",
            "--seed",
            "12",
            "--drift",
            "--output",
            str(batch),
        ],
        root,
    )
    monitored = run(
        ["reprokit", "monitor", "--current", str(batch), "--output-dir", str(base / "monitoring")],
        root,
        check=False,
    )
    assert monitored.returncode == 1, monitored.stderr  # 1: the alarm the drift must raise
    (report,) = (base / "monitoring").glob("*-report.html")
    shots = Path(os.environ.get("REPROKIT_SCREENSHOTS") or base / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with mlflow_server(
        f"sqlite:///{root / 'mlruns.db'}", root, base / "mlflow.log", project=root
    ) as ui:
        yield Looked(root, ui.url + page, base / "plots" / "index.html", report, shots)


@pytest.fixture(scope="module")
def browser(looked: Looked) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _offline_page(browser: Any) -> Any:
    """A page that can reach loopback and files only: what a CDN would supply is missing."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})

    def only_local(route: Any) -> None:
        local = route.request.url.startswith(("file:", "data:", "http://127.0.0.1"))
        route.continue_() if local else route.abort()

    page.route("**/*", only_local)
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    return page


def test_the_runs_table_opens_for_model_training_with_the_metric_columns(
    looked: Looked, browser: Any
) -> None:
    last = read_last_run(looked.root)
    assert last is not None
    page = _offline_page(browser)
    page.goto(looked.ui)
    primary = page.locator('[role="columnheader"][col-id="metrics.`roc_auc`"]')
    primary.first.wait_for()
    page.screenshot(path=looked.shots / "mlflow-runs.png")
    # Left to right as drawn (the grid's DOM order is not its column order).
    headers = page.eval_on_selector_all(
        '[role="columnheader"][col-id^="metrics."]',
        """cells => cells
            .map(c => [c.getBoundingClientRect().left, c.getAttribute('col-id')])
            .sort((a, b) => a[0] - b[0]).map(c => c[1])""",
    )

    # In the view's order (the primary metric, then the gate's and the task's others); the
    # table draws only the columns that fit the window.
    assert headers[:3] == ["metrics.`roc_auc`", "metrics.`log_loss`", "metrics.`f1`"], headers
    value = f"{last.metrics['roc_auc']:.4f}"[:-1]  # the UI rounds; its first digits agree
    row_text = page.locator('[role="row"]').filter(has_text=value)
    assert row_text.count() >= 1, f"no row shows roc_auc {last.metrics['roc_auc']}"
    assert page.get_by_text("Model training").first.is_visible()
    assert page.get_by_text("Token Usage").count() == 0  # not GenAI's overview


def test_the_run_page_shows_the_keys_of_hash_tags_uncut(looked: Looked, browser: Any) -> None:
    last = read_last_run(looked.root)
    assert last is not None
    page = _offline_page(browser)
    server = looked.ui.split("/#/", 1)[0]
    # A tag chip's key is a text element titled with the key (MLflow's KeyValueTag); cut, its
    # text overflows the box flexbox shrank it to.
    # The key the page cut before (`reproki…`), set here to show the measure sees a cut.
    old_key = "reprokit.fingerprint"
    store_client(looked.root).set_tag(last.run_id, old_key, last.fingerprint)
    page.goto(f"{server}/#/experiments/{last.experiment_id}/runs/{last.run_id}")
    page.locator(f'[title="{old_key}"]:text-is("{old_key}")').first.wait_for()
    page.screenshot(path=looked.shots / "mlflow-run.png")

    def cut(key: str) -> bool:
        element = page.locator(f'[title="{key}"]:text-is("{key}")').first
        scroll, client = element.evaluate("e => [e.scrollWidth, e.clientWidth]")
        return bool(scroll > client)

    assert cut(old_key)
    assert [key for key in (FINGERPRINT_TAG, MODEL_SHA256_TAG, GIT_COMMIT_TAG) if cut(key)] == []


def _plot_boxes(page: Any) -> list[dict[str, Any]]:
    return list(
        page.evaluate(
            """() => [
              ...document.querySelectorAll('body > div[id], img')
            ].map(e => ({
                id: e.id, tag: e.tagName, src: e.getAttribute('src'),
                height: e.getBoundingClientRect().height,
                drawn: e.tagName === 'IMG' ? e.naturalHeight > 0 : !!e.querySelector('svg, canvas'),
            }))"""
        )
    )


def test_dvc_plots_show_draws_each_plot_once_without_the_cdn(looked: Looked, browser: Any) -> None:
    page = _offline_page(browser)
    page.goto(looked.plots.as_uri())
    page.wait_for_function(
        "() => document.querySelectorAll('div[id] svg, div[id] canvas').length >= 5"
    )
    page.screenshot(path=looked.shots / "dvc-plots.png", full_page=True)
    boxes = _plot_boxes(page)
    vega = [box for box in boxes if box["tag"] == "DIV" and box["drawn"]]
    images = [box for box in boxes if box["tag"] == "IMG"]
    assert sorted(box["id"] for box in vega) == [
        "Calibration",
        "Feature_importance__gain_",
        "Learning_curve",
        "Precision-Recall",
        "ROC",
    ]
    assert all(box["height"] > 100 for box in vega), vega
    sources = [box["src"] for box in images]
    assert len(sources) == len(set(sources)) == 6, sources  # each figure once
    assert all(box["drawn"] and box["height"] > 100 for box in images), images


def test_the_monitoring_report_draws_the_drift_table(looked: Looked, browser: Any) -> None:
    page = _offline_page(browser)
    page.goto(looked.report.as_uri())
    page.get_by_text("Drifted Columns").first.wait_for()
    page.screenshot(path=looked.shots / "monitoring-report.png")
    rows = page.locator('[role="row"], tr').all_inner_texts()
    detected = {
        cells.split()[0] for cells in rows if "Detected" in cells and "Not Detected" not in cells
    }
    assert detected >= DRIFTED, rows
    assert page.locator("svg, canvas").count() > 0  # the distributions are drawn
