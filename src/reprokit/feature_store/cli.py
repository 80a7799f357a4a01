"""`reprokit features ...`: generate and check feature_repo/, materialize, list. Feast is
imported by `materialize` and `list` only."""

from __future__ import annotations

from pathlib import Path

import click

from reprokit.cli_errors import user_errors
from reprokit.project_lock import writes_project


def _root() -> Path:
    from reprokit.config.compose import find_project_root

    return find_project_root()


@click.group()
def features() -> None:
    """The Feast feature store: feature_repo/ generated from conf/, its online store."""


@features.command("generate")
@user_errors
def generate() -> None:
    """Write feature_repo/ (feature_store.yaml, features.py) from params.yaml."""
    from reprokit.config.compose import load_config
    from reprokit.feature_store.render import write

    root = _root()
    written = write(load_config(root), root)
    for path in written:
        click.echo(f"wrote {path}")
    if not written:
        click.echo("the feature store is off (feature_store.enabled): nothing to write")


@features.command("check")
@user_errors
def check() -> None:
    """Exit non-zero when feature_repo/ is stale against params.yaml."""
    from reprokit.config.compose import load_config
    from reprokit.feature_store.render import check as check_repo

    root = _root()
    check_repo(load_config(root), root)
    click.echo("feature_repo/ is up to date with params.yaml")


@features.command("materialize")
@user_errors
@writes_project
def materialize() -> None:
    """Load the table into the online store, only rows newer than the last load when the
    rest is unchanged (the command of DVC stage `materialize`)."""
    from reprokit.config.compose import load_config
    from reprokit.feature_store.spec import STAGE
    from reprokit.feature_store.store import materialize as run_materialize
    from reprokit.input_guard import stage_inputs, unchanged_inputs

    root = _root()
    # A table rewritten while it loads would leave DVC recording a state it never had.
    with unchanged_inputs(root, stage_inputs(root, STAGE), "`reprokit features materialize`"):
        step = run_materialize(load_config(root), root)
    click.echo(f"materialized ({step.mode}) up to {step.end.isoformat()}")


@features.command("list")
@user_errors
def list_features() -> None:
    """Entities, feature views and their freshness, from Feast's registry."""
    from reprokit.config.compose import load_config
    from reprokit.feature_store.store import summary

    root = _root()
    entities, views = summary(load_config(root), root)
    click.echo("entities:")
    for name, join_key in entities:
        click.echo(f"  {name} (join key {join_key})")
    click.echo("feature views:")
    for view in views:
        freshness = view.loaded_until.isoformat() if view.loaded_until else "never materialized"
        click.echo(
            f"  {view.name}: {view.features} features by {', '.join(view.entities)}; "
            f"online {'yes' if view.online else 'no'}; loaded until {freshness}"
        )


@features.command("training-set")
@click.argument("entities", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Parquet file.")
@user_errors
def training_set(entities: Path, out: Path) -> None:
    """A point-in-time correct training set: for each row of ENTITIES (a Parquet table of
    the data's id and timestamp columns, and optionally its target), the feature values
    its entity had at that time, never later ones (Feast's historical retrieval)."""
    from reprokit.config.compose import load_config
    from reprokit.feature_store.training import write_training_set

    root = _root()
    rows = write_training_set(load_config(root), root, entities, out)
    click.echo(f"wrote {out}: {rows} rows, features as of each row's time")
