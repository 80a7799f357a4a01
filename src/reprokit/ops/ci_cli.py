"""`reprokit ci report` and `reprokit ci deploy`: the model steps of the CI workflow
(.github/workflows/ci.yml), runnable locally. Heavy imports happen inside the commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from reprokit.cli_errors import user_errors


def _root() -> Path:
    from reprokit.config.compose import find_project_root

    return find_project_root()


def _in_root(root: Path, path: Path) -> Path:
    return path if path.is_absolute() else root / path


def output_option(default: str, help_text: str) -> Callable[[Any], Any]:
    """`--output/-o DIR` (relative to the project root), the folder a command writes."""
    return click.option(
        "--output",
        "-o",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(default),
        show_default=True,
        help=help_text,
    )


@click.group()
def ci() -> None:
    """The CI workflow's model steps: a pull request's report, main's staging deployment."""


@ci.command("report")
@click.option("--base", required=True, help="The git revision to compare with (the PR's base).")
@output_option("build/ci", "Folder for report.md and plots/ (the workflow's artifact).")
@user_errors
def report(base: str, output: Path) -> None:
    """After `dvc repro`: metrics and plots against BASE, the gate and the promotion rule.

    Writes a markdown report (also appended to $GITHUB_STEP_SUMMARY when set). Exits
    non-zero, naming the metric, when the quality gate fails or the promotion rule's metric
    regressed beyond its `min_improvement` margin."""
    from reprokit.ops.ci import ModelCheckError
    from reprokit.ops.ci_run import model_report

    root = _root()
    result, path = model_report(root, base, _in_root(root, output))
    click.echo(f"wrote {path}")
    if result.failures:
        raise ModelCheckError(
            f"model check against {base} failed: {'; '.join(result.failures)} (report: {path})"
        )
    click.echo(f"model check against {base} passed")


@ci.command("deploy", context_settings={"ignore_unknown_options": True})
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
@output_option("build/deploy", "Folder for deploy.json and k8s/ (the workflow's artifact).")
@click.option(
    "--image-repository",
    default=None,
    help="Where the image is pushed, e.g. ghcr.io/org/reprokit (default: the repository "
    "of serving.deployment.image).",
)
@user_errors
def deploy(overrides: tuple[str, ...], output: Path, image_repository: str | None) -> None:
    """After `dvc repro` on main: `bentoml build` and staging manifests for its image.

    `dvc repro` registered the model and moved `champion` by the promotion rule (its track
    stage); the Bento packs the champion, and the Kubernetes manifests (those of `reprokit
    deploy k8s`, + Hydra OVERRIDES) run the image named after the Bento's tag."""
    from reprokit.config.compose import workspace_from_conf
    from reprokit.ops.ci_run import deploy as deploy_staging

    root = _root()
    config = workspace_from_conf(root, overrides).config
    done = deploy_staging(root, config, _in_root(root, output), image_repository)
    champion = f"v{done.champion}" if done.champion else "none"
    click.echo(f"built {done.bento} (champion {champion} of {done.model}); image {done.image}")
    click.echo(f"wrote {_in_root(root, output)}: {', '.join(done.manifests)}")
