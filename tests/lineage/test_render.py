"""How `reprokit lineage` shows a chain: one table row per link, short hashes, and a last
line that says VERIFIED or names every broken link; JSON with the same facts."""

from __future__ import annotations

import json

from rich.console import Console

from reprokit.lineage.render import HASH_SHOWN, as_json, render_lineage
from reprokit.lineage.trace import Lineage
from reprokit.lineage.verify import Link, Status, broken, verified

DIGEST = "0123456789abcdef" * 4


def shown(lineage: Lineage) -> str:
    console = Console(record=True, width=200, color_system=None)
    render_lineage(lineage, console)
    return console.export_text()


def test_a_verified_chain_shows_short_hashes_and_says_so() -> None:
    lineage = Lineage("m:1", [verified("BentoML model file", "m:1", DIGEST)])
    text = shown(lineage)
    assert DIGEST[:HASH_SHOWN] in text and DIGEST not in text
    assert text.rstrip().endswith("VERIFIED: every checked link holds")


def test_a_broken_chain_names_each_broken_link() -> None:
    links = [
        verified("BentoML model file", "m:1", DIGEST),
        broken("registry version", "credit/2", None, "sha256 differs"),
        Link("commit", "abc", None, Status.NOT_CHECKED, "no git"),
        broken("run", "r1", DIGEST, "FAILED"),
    ]
    text = shown(Lineage("m:1", links))
    assert "BROKEN: 2 link(s): registry version (credit/2); run (r1)" in text
    document = json.loads(as_json(Lineage("m:1", links)))
    assert document["verified"] is False
    assert [link["status"] for link in document["links"]] == [
        str(Status.VERIFIED),
        str(Status.BROKEN),
        str(Status.NOT_CHECKED),
        str(Status.BROKEN),
    ]
