"""End to end: the service's image, built with podman and run on loopback.

`reprokit run` -> `reprokit package` -> `bentoml build` -> the base images (built once per
recipe) -> hadolint on the Bento's Dockerfile -> `bentoml containerize --backend podman`
-> `podman run` on 127.0.0.1 -> HTTP, compared with `bentoml serve` of the same project on
the same rows. The image store is the source tree's container home
(`.reprokit/containers`, or REPROKIT_CONTAINERS_HOME), so the base images and the
requirements' layer are reused by the next run on the same machine. The container is
always removed, the test's image too.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from tests.support import PROJECT_ROOT, free_port
from tests.support.serving import API_KEY, bentoml_server, packaged_project
from tests.support.tools import stdout_of

from reprokit.containers import image as images
from reprokit.containers.base_image import SUITE, BaseRecipe, ensure_base_images, host_ca_bundle
from reprokit.containers.config import container_env, container_home, write_config
from reprokit.containers.mirror import debian_mirrors, read_sources, source_files
from reprokit.containers.tools import missing_tools
from reprokit.serving.batch import frame_to_records

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("containers")]

ROWS = 500


def _tooling_missing() -> list[str]:
    home = container_home(PROJECT_ROOT, os.environ)
    missing = missing_tools(["podman", "runc", "debootstrap"])
    return missing + ([] if images.hadolint_path(home) else ["hadolint"])


def _skip_unless_ci() -> None:
    """Without the tooling the test skips, saying why, but never under CI: CI installs it
    (`.ci/run` runs `make image-tools`), so a missing tool there is a failure."""
    missing = _tooling_missing()
    if missing and os.environ.get("CI", "").lower() not in {"1", "true", "yes"}:
        pytest.skip(f"podman tooling absent ({', '.join(missing)}): `make image-tools` installs it")


@dataclass(frozen=True)
class Deployed:
    root: Path
    env: dict[str, str]
    container_env: dict[str, str]
    image: str
    name: str
    url: str
    served_url: str
    startup_seconds: float


def _timed(label: str, started: float) -> float:
    seconds = time.monotonic() - started
    print(f"{label}: {seconds:.1f} s")
    return seconds


@pytest.fixture(scope="module")
def deployed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    # The tooling check first, so a skip costs nothing. The trained template is asked for
    # after it: as an argument of this module fixture, the session-scoped template (a full
    # `reprokit run`) was set up before any module fixture, the check included.
    _skip_unless_ci()
    trained_template: Path = request.getfixturevalue("trained_template")
    base = tmp_path_factory.mktemp("container")
    packaged = packaged_project(base, trained_template)
    root, env = packaged.root, packaged.env

    home = container_home(PROJECT_ROOT, os.environ)
    write_config(home)
    cenv = container_env(home, env)
    files = source_files()
    recipe = BaseRecipe(
        debian_mirrors(read_sources(files), SUITE, os.environ, files),
        importlib.metadata.version("uv"),  # the Makefile's UV_VERSION (pyproject's dev pin)
        host_ca_bundle(os.environ).read_bytes(),
    )
    started = time.monotonic()
    _, built = ensure_base_images(home, recipe, cenv)
    _timed(f"base images ({'built' if built else 'reused'})", started)

    started = time.monotonic()
    bento = images.build_bento(root, cenv)
    images.lint_dockerfile(images.bento_dockerfile(bento, cenv), home, cenv)
    image = images.containerize(bento, "podman", cenv)
    _timed(f"bentoml build + hadolint + containerize ({image})", started)
    print(f"image size: {images.image_size(image, cenv) / 1e6:.0f} MB")

    name = f"reprokit-test-{bento.split(':', 1)[1]}"
    spec = images.RunSpec(
        image=image,
        name=name,
        host_port=free_port(),
        env={"REPROKIT_API_KEYS": API_KEY},
        keys_secret=None,
    )
    url = f"http://127.0.0.1:{spec.host_port}"
    try:
        images.start_container(spec, cenv)
        startup = images.wait_ready(url, name, cenv)
        print(f"container ready (/readyz) in {startup:.1f} s")
        with bentoml_server(root, env, base / "serve.log") as served_url:
            yield Deployed(root, env, cenv, image, name, url, served_url, startup)
    finally:
        images.remove_container(name, cenv)
        images.remove_quietly(["podman", "rmi", image], cenv)


def _predict(url: str, records: list[dict[str, Any]], key: str | None = API_KEY) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = json.dumps({"records": records})
    return httpx.post(f"{url}/predict", content=body, headers=headers, timeout=120)


def _records(deployed: Deployed) -> list[dict[str, Any]]:
    test = pd.read_parquet(deployed.root / "data/03_primary/test.parquet")
    return frame_to_records(test.drop(columns=["default"]))[:ROWS]


def _podman(deployed: Deployed, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        env=deployed.container_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_container_predicts_what_bentoml_serve_predicts(deployed: Deployed) -> None:
    records = _records(deployed)
    in_container = _predict(deployed.url, records)
    served = _predict(deployed.served_url, records)
    assert in_container.status_code == served.status_code == 200, in_container.text[:2000]
    ours, theirs = in_container.json()["predictions"], served.json()["predictions"]
    assert len(ours) == ROWS
    # JSON floats round-trip exactly: equal lists are bit-identical probabilities.
    assert ours == theirs


def test_the_container_refuses_a_request_without_a_key(deployed: Deployed) -> None:
    assert _predict(deployed.url, _records(deployed)[:1], key=None).status_code == 401
    assert _predict(deployed.url, _records(deployed)[:1], key="wrong").status_code == 401


def test_the_model_identity_headers_are_the_lineage_of_the_served_model(
    deployed: Deployed,
) -> None:
    headers = _predict(deployed.url, _records(deployed)[:1]).headers
    tag = headers["x-reprokit-model-tag"]
    lineage = json.loads(
        stdout_of(["reprokit", "lineage", tag, "--json"], deployed.root, deployed.env)
    )
    hashes = {link["link"]: link["hash"] for link in lineage["links"]}
    assert headers["x-reprokit-model-run-id"] == hashes["registry version -> run"]
    assert headers["x-reprokit-model-fingerprint"] == hashes["MLflow run fingerprint"]
    assert lineage["verified"] is True


def test_the_image_is_hardened(deployed: Deployed) -> None:
    inspected = images.image_inspect(deployed.image, deployed.container_env)
    assert inspected["Config"]["User"] == "bentoml"
    assert set(inspected["Config"]["ExposedPorts"]) == {"3000/tcp"}
    assert "/readyz" in " ".join(inspected["Healthcheck"]["Test"])
    assert _podman(deployed, "healthcheck", "run", deployed.name).returncode == 0
    checks = {
        "runs as uid 1034": "test $(id -u) = 1034",
        # Owned by root, writable by no one else: read-only even on a writable root.
        "cannot write its code or venv": 'test -z "$(find /app/.venv /home/bentoml/bento '
        '! -type l \\( -user bentoml -o -perm -0002 \\) -print -quit)"',
        "the root file system is read-only": "! touch /home/bentoml/bento/src/params.yaml",
        "no build tools": "for t in gcc cc make git curl pip pip3 uv; do "
        "! command -v $t || exit 1; done",
    }
    for what, check in checks.items():
        result = _podman(deployed, "exec", deployed.name, "bash", "-c", check)
        assert result.returncode == 0, f"{what}: {result.stdout}{result.stderr}"
    print(f"start-up to /readyz: {deployed.startup_seconds:.1f} s")
