"""How `reprokit lineage` shows a chain: a rich table, or JSON for machines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from reprokit.lineage.verify import Status

if TYPE_CHECKING:
    from rich.console import Console

    from reprokit.lineage.trace import Lineage

STYLES = {Status.VERIFIED: "green", Status.BROKEN: "bold red", Status.NOT_CHECKED: "yellow"}
HASH_SHOWN = 16


def as_json(lineage: Lineage) -> str:
    return json.dumps(lineage.as_dict(), indent=2)


def render_lineage(lineage: Lineage, out: Console) -> None:
    from rich.table import Table

    table = Table(title=f"lineage of {lineage.ref}", title_justify="left")
    for column in ("link", "subject", "hash", "status", "detail"):
        table.add_column(column, overflow="fold")
    for link in lineage.links:
        shown = "-" if link.hash is None else link.hash[:HASH_SHOWN]
        status = f"[{STYLES[link.status]}]{link.status}[/]"
        table.add_row(link.link, link.subject, shown, status, link.detail)
    out.print(table)
    broken = [link for link in lineage.links if link.status is Status.BROKEN]
    if broken:
        out.print(
            f"[bold red]BROKEN[/]: {len(broken)} link(s): "
            + "; ".join(f"{link.link} ({link.subject})" for link in broken)
        )
    else:
        out.print("[green]VERIFIED[/]: every checked link holds")
