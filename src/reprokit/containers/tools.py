"""Running the container tools: one place that turns a failed step into a user error."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from reprokit.containers.errors import ContainerToolError

# What each tool is for, and the Debian package that brings it (`make image-tools`).
REQUIRED = {
    "podman": "podman",
    "buildah": "buildah",
    "runc": "runc",
    "debootstrap": "debootstrap",
    "newuidmap": "uidmap",
    "fuse-overlayfs": "fuse-overlayfs",
    "slirp4netns": "slirp4netns",
}


def missing_tools(names: Sequence[str] = tuple(REQUIRED)) -> list[str]:
    """The Debian packages to install for the tools in `names` that are not on PATH (sbin
    included: debootstrap lives there, and a non-root PATH may lack it)."""
    search = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return sorted({REQUIRED[name] for name in names if shutil.which(name, path=search) is None})


def require_tools(names: Sequence[str]) -> None:
    missing = missing_tools(names)
    if missing:
        raise ContainerToolError(
            f"missing container tools (Debian packages {' '.join(missing)}): run `make image-tools`"
        )


def run_tool(
    args: Sequence[str | Path],
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    stdin: int | None = None,
    timeout: float = 3600,
) -> str:
    """Run one step; its stdout on success, else a ContainerToolError with its output's tail."""
    command = [str(arg) for arg in args]
    try:
        result = subprocess.run(
            command,
            env=dict(env),
            cwd=cwd,
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as error:
        fix = "`make image-tools`" if command[0] in REQUIRED else "`make setup`, .venv/bin on PATH"
        raise ContainerToolError(f"{command[0]} not found on PATH: run {fix}") from error
    if result.returncode != 0:
        tail = (result.stderr or result.stdout)[-3000:]
        raise ContainerToolError(
            f"`{' '.join(command)}` exited {result.returncode}:\n{tail.rstrip()}"
        )
    return result.stdout


def image_exists(tag: str, env: Mapping[str, str]) -> bool:
    result = subprocess.run(
        ["podman", "image", "exists", tag], env=dict(env), capture_output=True, check=False
    )
    return result.returncode == 0
