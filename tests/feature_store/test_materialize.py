"""`dvc repro` materializes the online store (SQLite in the project, or a real redis-server
on loopback), and the values Feast serves online are the offline table's latest row per
entity, exactly; `reprokit features list` reads entities and freshness from the registry."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.support import VENV_BIN, free_port, git_init, run, stop_group

from reprokit.feature_store.spec import MATERIALIZED_FILE

pytestmark = pytest.mark.slow

# Feast is imported in a subprocess: importing it points prometheus_client at a multiprocess
# directory (an environment variable) that later tests' servers would inherit.
ONLINE = """
import json, sys
from pathlib import Path
import pandas as pd
from reprokit.config.compose import load_config
from reprokit.feature_store.spec import feature_repo
from reprokit.feature_store.store import online_features

root = Path.cwd()
config = load_config(root)
ids = pd.read_parquet(feature_repo(config).table)[config.data.id_column].tolist()
rows = [{config.data.id_column: int(i)} for i in ids] + [{config.data.id_column: -1}]
print(json.dumps(online_features(config, root, rows)))
"""


def _same(online: Any, offline: Any) -> bool:
    if offline is None or (isinstance(offline, float) and math.isnan(offline)):
        return online is None
    return bool(online == offline)


def _assert_parity(project: Path) -> None:
    served = json.loads(run([f"{VENV_BIN}/python", "-c", ONLINE], project).stdout)
    table = pd.read_parquet(project / "data/02_intermediate/primary.parquet")
    latest = table.sort_values("application_date").drop_duplicates("customer_id", keep="last")
    expected = latest.set_index("customer_id").loc[served["customer_id"][:-1]]
    features = [c for c in served if c != "customer_id"]
    assert set(features) == set(table.columns) - {"customer_id", "application_date", "default"}
    for column in features:
        values = served[column]
        mismatched = [
            (i, a, b)
            for i, a, b in zip(
                served["customer_id"], values, expected[column].tolist(), strict=False
            )
            if not _same(a, b)
        ]
        assert not mismatched, (column, mismatched[:5])
        # An unknown entity has no features: Feast answers None, not another row's.
        assert values[-1] is None


def _materialize(project: Path, *overrides: str) -> str:
    """The stage's output (stdout and stderr)."""
    if overrides:
        run(["reprokit", "config", "compose", *overrides], project)
        run(["reprokit", "features", "generate"], project)
        run(["reprokit", "dvc", "generate"], project)
    git_init(project)
    result = run(["dvc", "repro", "materialize"], project)
    return result.stdout + result.stderr


def test_sqlite_online_store_matches_the_table(project_copy: Path) -> None:
    output = _materialize(project_copy)
    # What it loads, then a line per batch Feast writes (one batch at this size).
    assert "materialize.load" in output and "rows=10000" in output
    assert "materialize.progress" in output and "rows=10000/10000" in output
    assert (project_copy / "data/feature_store/online_store.db").is_file()
    record = json.loads((project_copy / MATERIALIZED_FILE).read_text())
    assert record["rows"] == record["entities"] == 10000
    _assert_parity(project_copy)
    listed = run(["reprokit", "features", "list"], project_copy).stdout
    assert "customer_id (join key customer_id)" in listed
    assert f"loaded until {record['loaded_until']}" in listed
    # Nothing changed: DVC reruns nothing, and a forced rerun loads no row twice.
    assert (
        "Stage 'materialize' didn't change"
        in run(["dvc", "repro", "materialize"], project_copy).stdout
    )
    forced = run(["reprokit", "features", "materialize"], project_copy).stdout
    assert "materialized (incremental)" in forced
    assert json.loads((project_copy / MATERIALIZED_FILE).read_text()) == record


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server missing: `make redis-tools` installs it")
        pytest.skip("redis-server is not installed (`make redis-tools`)")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(100):
            assert process.poll() is None, f"redis-server exited {process.returncode}"
            probe = subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False
            )
            if probe.stdout.strip() == "PONG":
                break
            time.sleep(0.1)
        yield port
    finally:
        stop_group(process)


def test_redis_online_store_matches_the_table(project_copy: Path, redis_port: int) -> None:
    _materialize(
        project_copy,
        "feature_store.online_store=redis",
        f"feature_store.redis=127.0.0.1:{redis_port}",
    )
    assert not (project_copy / "data/feature_store/online_store.db").exists()
    _assert_parity(project_copy)
