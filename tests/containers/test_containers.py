"""The container tooling's pure parts: apt's sources, the base image's key, the generated
configuration, how the image is run. The real build and run: tests/e2e/test_container.py."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from reprokit.containers.base_image import BaseImages, BaseRecipe, render_sources
from reprokit.containers.config import ContainerHome, container_env, write_config
from reprokit.containers.errors import MirrorNotFoundError
from reprokit.containers.image import RunSpec, bento_tag, ensure_keys_file, image_name, run_args
from reprokit.containers.mirror import (
    MIRROR_ENV,
    Mirrors,
    debian_mirrors,
    parse_deb822,
    parse_one_line,
)

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://mirror.invalid/debian
Suites: bookworm
Components: main
Enabled: no
"""


def test_the_mirror_is_the_one_apt_uses_for_the_suite() -> None:
    one_line = parse_one_line(
        "deb-src http://src.invalid/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://other.invalid/debian/ trixie main  # x\n"
    )
    sources = [*one_line, *parse_deb822(DEB822)]
    mirrors = debian_mirrors(sources, "bookworm", {}, [])
    assert mirrors == Mirrors(
        "http://deb.debian.org/debian", "http://deb.debian.org/debian-security"
    )
    assert debian_mirrors(sources, "trixie", {}, []).archive == "http://other.invalid/debian"
    override = {MIRROR_ENV: "http://near.invalid/debian/"}
    assert debian_mirrors(sources, "bookworm", override, []).archive == "http://near.invalid/debian"
    with pytest.raises(MirrorNotFoundError, match=rf"'bullseye'.*/etc/x.sources.*{MIRROR_ENV}"):
        debian_mirrors(sources, "bullseye", {}, [Path("/etc/x.sources")])


def test_the_base_image_key_follows_every_input_and_the_root_only_debootstraps() -> None:
    mirrors = Mirrors("http://deb.debian.org/debian", None)
    recipe = BaseRecipe(mirrors, "0.13.9", b"CA")
    assert recipe.key == BaseRecipe(mirrors, "0.13.9", b"CA").key
    changed = [
        BaseRecipe(mirrors, "0.13.10", b"CA"),
        BaseRecipe(mirrors, "0.13.9", b"another CA"),
        BaseRecipe(
            Mirrors(mirrors.archive, "http://deb.debian.org/debian-security"), "0.13.9", b"CA"
        ),
        BaseRecipe(Mirrors("http://near.invalid/debian", None), "0.13.9", b"CA"),
    ]
    assert len({recipe.key, *(other.key for other in changed)}) == 5
    # Only the mirror changes the debootstrap root.
    assert {other.minbase_key for other in changed[:3]} == {recipe.minbase_key}
    assert changed[3].minbase_key != recipe.minbase_key
    tags = BaseImages(recipe.key, recipe.minbase_key)
    assert tags.runtime == "localhost/reprokit-python:3.11-bookworm"
    assert tags.build == f"{tags.runtime}-build"  # what Dockerfile.j2's build stage names
    assert tags.keyed_runtime.endswith(recipe.key)
    assert "bookworm-security" not in render_sources(mirrors)


def test_the_configuration_stays_in_the_container_home(tmp_path: Path) -> None:
    home = ContainerHome(tmp_path / "containers")
    write_config(home)
    containers = tomllib.loads(home.containers_conf.read_text())
    assert containers["engine"]["runtime"] == "runc"
    assert containers["engine"]["cgroup_manager"] == "cgroupfs"
    assert containers["containers"]["default_ulimits"] == [
        "nofile=20000:20000",
        "nproc=32768:32768",
    ]
    storage = tomllib.loads(home.storage_conf.read_text())["storage"]
    assert storage["driver"] == "overlay"
    paths = [
        storage["graphroot"],
        storage["runroot"],
        containers["network"]["network_config_dir"],
        containers["engine"]["tmp_dir"],
        containers["engine"]["events_logfile_path"],
    ]
    assert all(Path(path).is_relative_to(home.root) for path in paths), paths
    written = home.containers_conf.stat().st_mtime_ns
    write_config(home)  # unchanged: not rewritten
    assert home.containers_conf.stat().st_mtime_ns == written
    env = container_env(home, {"PATH": "/usr/bin"})
    assert env["CONTAINERS_CONF"] == str(home.containers_conf)
    assert env["CONTAINERS_STORAGE_CONF"] == str(home.storage_conf)
    assert env["BUILDAH_FORMAT"] == "docker"  # the OCI format drops HEALTHCHECK
    assert env["BUILDAH_LAYERS"] == "true"


def test_the_container_runs_on_loopback_read_only_with_its_keys_from_a_secret(
    tmp_path: Path,
) -> None:
    assert bento_tag("building...\n__tag__:reprokit:abc123\n") == "reprokit:abc123"
    assert image_name("reprokit:abc123") == "localhost/reprokit:abc123"
    args = run_args(RunSpec("localhost/reprokit:abc123", "reprokit", 3100, {"A": "1"}))
    assert args[args.index("--publish") + 1] == "127.0.0.1:3100:3000"
    assert "--read-only" in args and args[-1] == "localhost/reprokit:abc123"
    secret = args[args.index("--secret") + 1]
    assert "uid=1034" in secret and "mode=0400" in secret
    assert "REPROKIT_API_KEYS_FILE=/run/secrets/reprokit-api-keys" in args
    assert "A=1" in args
    keys = tmp_path / "api-keys"
    assert ensure_keys_file(keys) and keys.stat().st_mode & 0o777 == 0o600
    made = keys.read_text()
    assert not ensure_keys_file(keys) and keys.read_text() == made  # kept as it is
