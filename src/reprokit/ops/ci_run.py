"""The CI workflow's model steps (`reprokit ci report`, `reprokit ci deploy`): the real tools
(git, dvc, bentoml) in order, their results handed to the pure parts in reprokit.ops.ci.

Both write their files atomically into one output folder (the workflow uploads it as an
artifact) and append their markdown to `$GITHUB_STEP_SUMMARY` when it is set.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reprokit.config.models import ReprokitConfig
from reprokit.config.roles import TEST_SPLIT, role_dataset
from reprokit.core.env import dvc_command
from reprokit.core.yaml_text import load_yaml
from reprokit.datasets import atomic_directory, atomic_path
from reprokit.errors import ReprokitError
from reprokit.ops.ci import (
    Report,
    Side,
    gate_verdict,
    locked_md5,
    metric_rows,
    plot_errors,
    plot_revisions,
    promotion_decision,
    regression_verdict,
    render_markdown,
    side_values,
)

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
REPORT_FILE = "report.md"
PLOTS_DIR = "plots"
DEPLOY_FILE = "deploy.json"
MANIFESTS_DIR = "k8s"


class CiToolError(ReprokitError):
    """git, dvc or bentoml failed in a CI step, or the base revision is unknown."""


def _tool(args: Sequence[str], root: Path) -> str:
    try:
        result = subprocess.run(
            list(args), cwd=root, capture_output=True, text=True, check=False, timeout=1800
        )
    except FileNotFoundError as error:
        raise CiToolError(f"{args[0]} not found on PATH: run `make setup`") from error
    if result.returncode != 0:
        tail = (result.stderr or result.stdout)[-3000:].rstrip()
        raise CiToolError(f"`{' '.join(args)}` exited {result.returncode} in {root}:\n{tail}")
    return result.stdout


def _dvc_json(root: Path, *args: str) -> Any:
    return json.loads(_tool(dvc_command(*args, "--json"), root) or "{}")


def _at_revision(root: Path, ref: str, path: str) -> str | None:
    """`path` as committed at `ref`; None when `ref` has no such file."""
    known = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if known.returncode != 0:
        raise CiToolError(
            f"--base {ref}: no such commit in {root}; fetch it (in GitHub Actions: "
            "actions/checkout with fetch-depth: 0)"
        )
    shown = subprocess.run(
        ["git", "show", f"{ref}:{path}"], cwd=root, capture_output=True, text=True, check=False
    )
    return shown.stdout if shown.returncode == 0 else None


def _yaml(text: str | None) -> dict[str, Any]:
    loaded = load_yaml(text) if text else None
    return loaded if isinstance(loaded, dict) else {}


def _filepath(config: ReprokitConfig, dataset: str | None) -> str:
    return str((config.catalog.get(dataset or "") or {}).get("filepath", ""))


def _side(ref: str, lock: Mapping[str, Any], params: Mapping[str, Any], test_path: str) -> Side:
    from reprokit.tracking.store import evaluation_hash

    evaluated = bool(params.get("evaluation"))
    return Side(ref, locked_md5(lock, test_path), evaluation_hash(params) if evaluated else None)


def short_ref(ref: str) -> str:
    """A full commit sha as git abbreviates it in messages (12 digits); other refs as given."""
    is_sha = len(ref) == 40 and all(char in "0123456789abcdef" for char in ref.lower())
    return ref[:12] if is_sha else ref


def append_summary(markdown: str) -> None:
    """Append to the job summary GitHub shows on the run's page (no-op outside Actions)."""
    summary = os.environ.get(SUMMARY_ENV)
    if summary:
        with Path(summary).open("a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def model_report(root: Path, base: str, output: Path) -> tuple[Report, Path]:
    """Compare the workspace (after `dvc repro`) with git revision `base`; write the markdown
    report and the plots (HTML) into `output`. Returns the report and its file."""
    from reprokit.config.compose import workspace_from_params_file
    from reprokit.tracking.store import promotion_rule

    workspace = workspace_from_params_file(root)
    config = workspace.config
    metrics_path = _filepath(config, config.tracking.metrics)
    test_path = _filepath(config, role_dataset(config.catalog, TEST_SPLIT))
    base_side = _side(
        short_ref(base),
        _yaml(_at_revision(root, base, "dvc.lock")),
        _yaml(_at_revision(root, base, "params.yaml")),
        test_path,
    )
    head_lock = (
        (root / "dvc.lock").read_text(encoding="utf-8") if (root / "dvc.lock").is_file() else None
    )
    head_side = _side("head", _yaml(head_lock), workspace.params, test_path)

    rows = metric_rows(_dvc_json(root, "metrics", "diff", base, "--all"))
    rule = promotion_rule(config)
    decision = promotion_decision(rows, metrics_path, rule, base_side, head_side)
    base_metrics = side_values(rows, metrics_path, head=False)
    head_metrics = side_values(rows, metrics_path, head=True)
    gate = (workspace.params.get("evaluation") or {}).get("gate") or {}
    with atomic_directory(output / PLOTS_DIR) as plots_dir:
        _tool(dvc_command("plots", "diff", base, "--out", str(plots_dir)), root)
    plots = _dvc_json(root, "plots", "diff", base)
    labels = {base: short_ref(base), "workspace": head_side.ref}
    report = Report(
        base=short_ref(base),
        rows=rows,
        gate=gate_verdict(head_metrics, gate),
        regression=regression_verdict(
            base_metrics.get(rule.metric), head_metrics.get(rule.metric), rule, decision
        ),
        promotion=decision,
        plots=plot_revisions(plots, labels),
        plots_html=f"{PLOTS_DIR}/index.html",
        plot_errors=plot_errors(plots, labels),
    )
    markdown = render_markdown(report)
    _write(output / REPORT_FILE, markdown)
    append_summary(markdown)
    return report, output / REPORT_FILE


# --- deploy ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    bento: str
    image: str
    model: str
    champion: str | None
    champion_reason: str
    challenger: str | None
    manifests: list[str]


def image_for(bento_tag: str, repository: str) -> str:
    """The image `bentoml containerize` names after the Bento (`name:version`), under
    `repository` (a registry path; "" keeps the Bento's name)."""
    name, _, version = bento_tag.partition(":")
    return f"{repository or name}:{version}"


def repository_of(image: str) -> str:
    """`registry.example/team/reprokit:latest` (or `...@sha256:..`) -> its repository."""
    # A registry host may carry a port (`host:5000/name`): only the last part has the tag.
    path, slash, last = image.split("@", 1)[0].rpartition("/")
    return path + slash + last.split(":", 1)[0]


def _registry_state(config: ReprokitConfig, root: Path) -> tuple[str | None, str, str | None]:
    """The champion (version, why it holds the alias) and the challenger, as the track stage
    of `dvc repro` left them (it registers and promotes: reprokit.tracking.store)."""
    from reprokit.core.names import CHALLENGER, CHAMPION
    from reprokit.tracking.registry_cli import Registry, version_rows
    from reprokit.tracking.store import connect

    name = config.tracking.registered_model
    if not name:
        raise CiToolError("params.yaml names no tracking.registered_model: nothing to deploy")
    metric, direction = config.tracking.promotion.resolved(config.data.task)
    rows = version_rows(Registry(connect(config, root), name, metric, direction), limit=1000)
    holders = {alias: row for row in rows for alias in row.aliases}
    champion, challenger = holders.get(CHAMPION), holders.get(CHALLENGER)
    return (
        None if champion is None else str(champion.version),
        "" if champion is None else champion.promotion_reason,
        None if challenger is None else str(challenger.version),
    )


def _deploy_markdown(deployment: Deployment, output: Path) -> str:
    champion = (
        f"v{deployment.champion} ({deployment.champion_reason or 'no reason recorded'})"
        if deployment.champion
        else "none"
    )
    return "\n".join(
        [
            "## Staging deployment",
            "",
            f"- registered model `{deployment.model}`: champion {champion}, "
            f"challenger {'v' + deployment.challenger if deployment.challenger else 'none'}",
            f"- Bento `{deployment.bento}` -> image `{deployment.image}`",
            f"- manifests in `{output / MANIFESTS_DIR}`: {', '.join(deployment.manifests)}",
            "",
        ]
    )


def deploy(root: Path, config: ReprokitConfig, output: Path, repository: str | None) -> Deployment:
    """`bentoml build` (it packs the registry's champion), then the staging manifests with
    the image named after the Bento, into `output`."""
    from reprokit.containers.image import build_bento
    from reprokit.serving.k8s import write_manifests

    champion, reason, challenger = _registry_state(config, root)
    bento = build_bento(root, os.environ)
    image = image_for(
        bento, repository_of(config.serving.deployment.image) if repository is None else repository
    )
    deployed = config.model_copy(
        update={
            "serving": config.serving.model_copy(
                update={"deployment": config.serving.deployment.model_copy(update={"image": image})}
            )
        }
    )
    deployment = Deployment(
        bento=bento,
        image=image,
        model=str(config.tracking.registered_model),
        champion=champion,
        champion_reason=reason,
        challenger=challenger,
        manifests=write_manifests(deployed, output / MANIFESTS_DIR),
    )
    _write(output / DEPLOY_FILE, json.dumps(asdict(deployment), indent=2) + "\n")
    append_summary(_deploy_markdown(deployment, output))
    return deployment
