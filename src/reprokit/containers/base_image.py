"""The service image's base, made here: Debian minbase from debootstrap, Debian's python3.

No registry is reachable from these machines, so nothing is pulled: debootstrap builds a
root file system from the Debian mirror apt already uses, `podman import` makes it an
image, and a small Containerfile adds python3 in two targets:

- `runtime` (`localhost/reprokit-python:3.11-bookworm`): what the service runs on; no pip,
  no compilers, Debian's security updates applied.
- `build` (the same tag + `-build`): the service image's build stage, with pip and uv, and
  the build host's CA bundle, so HTTPS to the package index works behind a TLS-intercepting
  proxy. It never reaches the runtime image.

Every input (suite, mirrors, the Containerfile, uv's version, the CA bundle) goes into the
recipe's key; an image tagged with that key is reused, so the work is done once per recipe.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reprokit.containers.config import ContainerHome
from reprokit.containers.errors import ContainerToolError
from reprokit.containers.mirror import Mirrors
from reprokit.containers.tools import image_exists, require_tools, run_tool

SUITE = "bookworm"
PYTHON_VERSION = "3.11"
IMAGE = "localhost/reprokit-python"
MINBASE_IMAGE = "localhost/reprokit-debian"
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEBOOTSTRAP_ARGS = ("--variant=minbase", "--components=main")
# Inside the build stage: where the host's bundle goes, and who is told to use it (pip,
# requests, OpenSSL; uv reads the system store only with native TLS).
BUILD_CA_BUNDLE = "/etc/ssl/certs/build-host-ca-bundle.crt"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# Shared libraries the model libraries' wheels load but do not ship (LightGBM's and
# XGBoost's OpenMP runtime).
RUNTIME_LIBRARIES = ("libgomp1",)


def host_ca_bundle(environ: Mapping[str, str]) -> Path:
    """The bundle this host trusts for HTTPS: `SSL_CERT_FILE` when it names a file, else
    Debian's system bundle (which carries a proxy's CA once it is installed there)."""
    configured = environ.get("SSL_CERT_FILE")
    for candidate in (Path(configured) if configured else None, SYSTEM_CA_BUNDLE):
        if candidate is not None and candidate.is_file():
            return candidate
    raise ContainerToolError(
        f"no CA bundle for the image build: {SYSTEM_CA_BUNDLE} is missing and SSL_CERT_FILE "
        "names no file; install Debian's ca-certificates or set SSL_CERT_FILE"
    )


def render_sources(mirrors: Mirrors, suite: str = SUITE) -> str:
    """apt's sources inside the image (deb822): the suite and its updates, and its security
    archive when the host has one."""
    stanzas = [
        f"Types: deb\nURIs: {mirrors.archive}\nSuites: {suite} {suite}-updates\n"
        f"Components: main\nSigned-By: {KEYRING}\n"
    ]
    if mirrors.security:
        stanzas.append(
            f"Types: deb\nURIs: {mirrors.security}\nSuites: {suite}-security\n"
            f"Components: main\nSigned-By: {KEYRING}\n"
        )
    return "\n".join(stanzas)


def render_containerfile(minbase: str, uv_version: str) -> str:
    apt_install = "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends"
    return f"""\
# The service image's base (reprokit.containers.base_image, `make image-base`): Debian
# {SUITE} minbase from debootstrap and Debian's python3; nothing pulled from a registry.
FROM {minbase} AS runtime
ENV LANG=C.UTF-8 LC_ALL=C.UTF-8
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY debian.sources /etc/apt/sources.list.d/debian.sources
# Debian's versions of the day (the suite is the pin); no pip, no compilers. Debian's pip
# refuses to install outside a venv (EXTERNALLY-MANAGED): the build stage needs it to.
# hadolint ignore=DL3008
RUN rm -f /etc/apt/sources.list \\
    && apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y \\
    && {apt_install} python3 ca-certificates {" ".join(RUNTIME_LIBRARIES)} \\
    && apt-get clean \\
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \\
        /usr/lib/python{PYTHON_VERSION}/EXTERNALLY-MANAGED

# The service image's build stage: pip and uv, trusting the build host's CA bundle.
FROM runtime AS build
COPY host-ca-bundle.crt {BUILD_CA_BUNDLE}
ENV SSL_CERT_FILE={BUILD_CA_BUNDLE} \\
    PIP_CERT={BUILD_CA_BUNDLE} \\
    REQUESTS_CA_BUNDLE={BUILD_CA_BUNDLE} \\
    UV_NATIVE_TLS=1
# hadolint ignore=DL3008
RUN apt-get update \\
    && {apt_install} python3-pip \\
    && apt-get clean \\
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \\
    && pip3 install --no-cache-dir "uv=={uv_version}"
"""


@dataclass(frozen=True)
class BaseRecipe:
    """Everything that decides the base images' content."""

    mirrors: Mirrors
    uv_version: str
    ca_bundle: bytes
    suite: str = SUITE

    @property
    def minbase_key(self) -> str:
        """The debootstrap step's own key: a change to the Containerfile reuses its root."""
        return _key(" ".join((*DEBOOTSTRAP_ARGS, self.suite, self.mirrors.archive)))

    @property
    def key(self) -> str:
        """Every input's (the minbase is named by its own key, so the Containerfile is
        hashed with a placeholder in its place)."""
        return _key(
            self.minbase_key,
            render_sources(self.mirrors, self.suite),
            render_containerfile("MINBASE", self.uv_version),
            hashlib.sha256(self.ca_bundle).hexdigest(),
        )


def _key(*parts: str) -> str:
    """12 hex digits of the sha256 of `parts`."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class BaseImages:
    """The tags of one recipe's images: the keyed ones, and the stable names that
    bentofile.yaml's `docker.base_image` (and the template's build stage) refer to."""

    key: str
    minbase_key: str

    @property
    def runtime(self) -> str:
        return f"{IMAGE}:{PYTHON_VERSION}-{SUITE}"

    @property
    def build(self) -> str:
        return f"{self.runtime}-build"

    @property
    def keyed_runtime(self) -> str:
        return f"{self.runtime}-{self.key}"

    @property
    def keyed_build(self) -> str:
        return f"{self.build}-{self.key}"

    @property
    def minbase(self) -> str:
        return f"{MINBASE_IMAGE}:{SUITE}-minbase-{self.minbase_key}"


def ensure_base_images(
    home: ContainerHome, recipe: BaseRecipe, env: Mapping[str, str]
) -> tuple[BaseImages, bool]:
    """The recipe's images, built unless images with its key exist; the stable names are
    pointed at them either way. Returns the tags and whether anything was built."""
    require_tools(["podman"])
    images = BaseImages(recipe.key, recipe.minbase_key)
    built = not (image_exists(images.keyed_runtime, env) and image_exists(images.keyed_build, env))
    if built:
        _build(home, recipe, images, env)
    for keyed, stable in (
        (images.keyed_runtime, images.runtime),
        (images.keyed_build, images.build),
    ):
        run_tool(["podman", "tag", keyed, stable], env)
    return images, built


def _build(
    home: ContainerHome, recipe: BaseRecipe, images: BaseImages, env: Mapping[str, str]
) -> None:
    home.tmp.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"base-{recipe.key}.", dir=home.tmp))
    try:
        if not image_exists(images.minbase, env):
            _import_minbase(work / "rootfs", recipe, images.minbase, env)
        context = work / "context"
        context.mkdir()
        (context / "Containerfile").write_text(
            render_containerfile(images.minbase, recipe.uv_version), encoding="utf-8"
        )
        (context / "debian.sources").write_text(render_sources(recipe.mirrors), encoding="utf-8")
        (context / "host-ca-bundle.crt").write_bytes(recipe.ca_bundle)
        for target, tag in (("runtime", images.keyed_runtime), ("build", images.keyed_build)):
            run_tool(
                ["podman", "build", "--target", target, "-t", tag, "-f", "Containerfile", "."],
                env,
                cwd=context,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _import_minbase(rootfs: Path, recipe: BaseRecipe, tag: str, env: Mapping[str, str]) -> None:
    require_tools(["debootstrap"])
    if os.geteuid() != 0:
        raise ContainerToolError(
            "debootstrap must run as root to build the base image (it creates device nodes and "
            "chroots): run `make image-base` as root once; the image is reused afterwards"
        )
    run_tool(
        ["debootstrap", *DEBOOTSTRAP_ARGS, recipe.suite, rootfs, recipe.mirrors.archive],
        {**env, "PATH": f"/usr/sbin:/sbin:{env.get('PATH', '/usr/bin:/bin')}"},
    )
    # Downloaded packages and index files are dead weight in the image.
    for leftovers in (rootfs / "var/cache/apt/archives", rootfs / "var/lib/apt/lists"):
        for entry in leftovers.glob("*"):
            if entry.is_file():
                entry.unlink()
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        assert tar.stdout is not None
        run_tool(["podman", "import", "-", tag], env, stdin=tar.stdout.fileno())
    finally:
        if tar.stdout is not None:
            tar.stdout.close()
        if tar.wait() != 0:
            raise ContainerToolError(f"tar of {rootfs} exited {tar.returncode}")
