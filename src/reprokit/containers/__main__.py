"""`python -m reprokit.containers`: the steps behind `make image-tools`, `image-base`,
`image`, `image-run` and `image-stop`, run from the project root."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from reprokit.cli_errors import user_errors
from reprokit.containers import image as images
from reprokit.containers.base_image import SUITE, BaseRecipe, ensure_base_images, host_ca_bundle
from reprokit.containers.config import ContainerHome, container_env, container_home, shell_exports
from reprokit.containers.config import write_config as write_container_config
from reprokit.containers.errors import ContainerToolError
from reprokit.containers.mirror import debian_mirrors, read_sources, source_files
from reprokit.datasets import atomic_path

CONTAINER_NAME = "reprokit"


def _home() -> ContainerHome:
    home = container_home(Path.cwd(), os.environ)
    write_container_config(home)
    return home


def _record(home: ContainerHome) -> Path:
    return home.root / "image.json"


@click.group()
def main() -> None:
    """Build and run the service's image with podman or buildah (README "Containers")."""


@main.command()
@user_errors
def env() -> None:
    """Write the project's containers.conf/storage.conf; print `export` lines for a shell
    (`eval "$(python -m reprokit.containers env)"`, then podman works on the project's store)."""
    click.echo(shell_exports(_home()), nl=False)


@main.command()
@click.option("--uv-version", required=True, help="uv for the build stage (the Makefile's).")
@user_errors
def base(uv_version: str) -> None:
    """Build the base images once per recipe (debootstrap + podman); reuse them after."""
    home = _home()
    files = source_files()
    mirrors = debian_mirrors(read_sources(files), SUITE, os.environ, files)
    recipe = BaseRecipe(mirrors, uv_version, host_ca_bundle(os.environ).read_bytes())
    started = time.monotonic()
    tags, built = ensure_base_images(home, recipe, container_env(home))
    verb = f"built in {time.monotonic() - started:.0f} s" if built else "reused"
    click.echo(f"base images {verb}: {tags.keyed_runtime}, {tags.keyed_build}")
    click.echo(f"  as {tags.runtime} (bentofile.yaml docker.base_image) and {tags.build}")


@main.command()
@click.option("--backend", type=click.Choice(images.BACKENDS), default="podman", show_default=True)
@user_errors
def image(backend: str) -> None:
    """`bentoml build`, `bentoml containerize --backend BACKEND`, hadolint on its Dockerfile."""
    home = _home()
    env = container_env(home)
    started = time.monotonic()
    tag = images.build_bento(Path.cwd(), env)
    dockerfile = images.bento_dockerfile(tag, env)
    images.lint_dockerfile(dockerfile, home, env)
    name = images.containerize(tag, backend, env)
    size = images.image_size(name, env)
    with atomic_path(_record(home)) as tmp:
        tmp.write_text(json.dumps({"bento": tag, "image": name, "backend": backend}) + "\n")
    click.echo(f"{name}: {size / 1e6:.0f} MB, {backend}, {time.monotonic() - started:.0f} s")
    click.echo(f"  Dockerfile (hadolint: clean): {dockerfile}")


@main.command()
@click.option("--port", type=int, default=images.SERVICE_PORT, show_default=True)
@click.option(
    "--keys-file",
    type=click.Path(path_type=Path),
    default=None,
    help="API keys, one a line [default: <container home>/api-keys, made if absent]",
)
@user_errors
def run(port: int, keys_file: Path | None) -> None:
    """Run the last image `make image` built, on 127.0.0.1:PORT; wait for /readyz."""
    home = _home()
    env = container_env(home)
    record = _record(home)
    if not record.is_file():
        raise ContainerToolError(f"no image recorded in {record}: run `make image` first")
    built = json.loads(record.read_text())
    keys = keys_file or home.root / "api-keys"
    if images.ensure_keys_file(keys):
        click.echo(f"made an API key in {keys} (mode 0600)")
    images.store_keys_secret(keys, env)
    spec = images.RunSpec(image=built["image"], name=CONTAINER_NAME, host_port=port, env={})
    images.start_container(spec, env)
    url = f"http://127.0.0.1:{port}"
    seconds = images.wait_ready(url, CONTAINER_NAME, env)
    click.echo(f"{built['image']} ready on {url} in {seconds:.1f} s (container {CONTAINER_NAME})")
    click.echo(
        f'  curl {url}/predict -H "Authorization: Bearer $(head -1 {keys})" '
        "-H 'Content-Type: application/json' -d '{\"records\": [...]}'"
    )
    click.echo("  stop: make image-stop")


@main.command()
@user_errors
def stop() -> None:
    """Stop and remove the container `make image-run` started."""
    home = _home()
    images.remove_container(CONTAINER_NAME, container_env(home))


if __name__ == "__main__":
    sys.exit(main())
