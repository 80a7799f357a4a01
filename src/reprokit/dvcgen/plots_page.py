"""The page `dvc plots show` renders into, with Vega inlined so the curves draw offline.

DVC's default page loads Vega, Vega-Lite and Vega-Embed from cdn.jsdelivr.net. Without that
host (an air-gapped machine, a CI runner, a proxy that allows only package registries) every
CSV plot renders at zero height and only the PNG figures show. `reprokit dvc plots-page`
fetches the same three releases DVC's page names from the npm registry, checks each tarball
against the sha512 pinned here, and writes one self-contained template that DVC's
`plots.html_template` setting (in the git-ignored `.dvc/config.local`) points to.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import io
import os
import subprocess
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from reprokit.core.env import dvc_command
from reprokit.core.fs import atomic_path
from reprokit.core.stamps import probe_stamps, recorded_fresh, stamp, write_record
from reprokit.errors import ReprokitError

NPM_REGISTRY = "https://registry.npmjs.org"
TEMPLATE_FILE = Path(".reprokit/dvc_plots_template.html")
# Relative to .dvc/, as DVC resolves `plots.html_template`.
TEMPLATE_SETTING = "../" + TEMPLATE_FILE.as_posix()
DOWNLOAD_TIMEOUT_S = 60
# What the last write left (git-ignored with the rest of .reprokit/): while the template is
# as written from these pins by this code, `make repro` skips re-verifying and unpacking the
# three tarballs (0.15 s of its no-op).
PAGE_RECORD = Path(".reprokit/cache/plots_page.json")
RECORD_VERSION = 1


@dataclass(frozen=True)
class Script:
    package: str
    version: str
    integrity: str  # npm's `dist.integrity`: sha512, base64
    member: str  # the browser build inside the tarball

    @property
    def tarball_url(self) -> str:
        return f"{NPM_REGISTRY}/{self.package}/-/{self.package}-{self.version}.tgz"


# The releases dvc-render's page loads (dvc_render/vega.py), in the order it loads them.
SCRIPTS = (
    Script(
        "vega",
        "5.20.2",
        "sha512-qmH7aD9GGPpssVdxL1xgcdxTbQzyRUeRR16Os385ymvQhiwCYQNA6+eXUPAZDTVLfk0RXu6Jzj6kUE5jQ80EVw==",
        "package/build/vega.min.js",
    ),
    Script(
        "vega-lite",
        "5.2.0",
        "sha512-Yxcg8MvYfxHcG6BbkaKT0oVCIMIcE19UvqIsEwBmyd/7h2nzW7oRnID81T8UrY7hpDrIr6wa2JADOT2dhGNErw==",
        "package/build/vega-lite.min.js",
    ),
    Script(
        "vega-embed",
        "6.18.2",
        "sha512-wcDyQPE4J5aiCDc3/suH5RQDvrKkjuLkhzUcbOLwEkNF8/+pp17tS0JghzEvAPNRg+5aG1/N2ydixq8Lk3dOlg==",
        "package/build/vega-embed.min.js",
    ),
)


class PlotsPageError(ReprokitError):
    """The Vega scripts could not be fetched or did not match their pinned hash."""


def integrity_of(payload: bytes) -> str:
    """npm's integrity string of a tarball (Subresource Integrity format, sha512)."""
    return "sha512-" + base64.b64encode(hashlib.sha512(payload).digest()).decode()


def browser_build(script: Script, tarball: bytes) -> str:
    """The script's browser build out of its npm tarball, once the tarball is verified."""
    found = integrity_of(tarball)
    if found != script.integrity:
        raise PlotsPageError(
            f"{script.tarball_url} does not match its pinned hash: expected "
            f"{script.integrity}, got {found} (a proxy rewrote it, or the download was cut)"
        )
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(script.member)
        if member is None:
            raise PlotsPageError(f"{script.tarball_url} has no {script.member}")
        return member.read().decode("utf-8")


def page_template(sources: list[str]) -> str:
    """dvc-render's page (its placeholders kept) with the scripts inline instead of DVC's
    CDN tags: DVC adds its `<script src=...>` tags only where a template has `{scripts}`."""
    # `</script` inside a script would end the element early; minified Vega has none, but a
    # page that silently breaks is worse than one more check.
    for source in sources:
        if "</script" in source.lower():
            raise PlotsPageError("a Vega build contains '</script' and cannot be inlined")
    inline = "\n".join(f"<script>\n{source}\n</script>" for source in sources)
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n    {refresh_tag}\n    <meta charset="utf-8">\n'
        "    <title>DVC Plot</title>\n"
        f"{inline}\n"
        "    <style>\n        table {\n            border-spacing: 15px;\n        }\n"
        "    </style>\n</head>\n<body>\n    {plot_divs}\n</body>\n</html>\n"
    )


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reprokit" / "npm"


def fetch_tarball(script: Script) -> bytes:
    """The script's tarball from the user cache, else from the npm registry (then cached)."""
    cached = _cache_dir() / f"{script.package}-{script.version}.tgz"
    if cached.is_file() and integrity_of(payload := cached.read_bytes()) == script.integrity:
        return payload
    try:
        with urllib.request.urlopen(script.tarball_url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            payload = bytes(response.read())
    except OSError as error:
        raise PlotsPageError(
            f"cannot download {script.tarball_url}: {error}; `dvc plots show` keeps DVC's "
            "CDN page (it needs cdn.jsdelivr.net to draw the curves)"
        ) from None
    with atomic_path(cached) as tmp:
        tmp.write_bytes(payload)
    return payload


def page_key() -> str:
    """A digest of what the template is made from: the pinned releases and this module."""
    parts = [RECORD_VERSION, [repr(script) for script in SCRIPTS], stamp(Path(__file__))]
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()


def write_plots_page(root: Path) -> Path:
    """Write the offline template under `root` (atomically, and only when it differs:
    `make repro` asks for it every time); returns its path."""
    target = root / TEMPLATE_FILE
    record = root / PAGE_RECORD
    key = page_key()
    if recorded_fresh(record, key):
        return target
    sources = [browser_build(script, fetch_tarball(script)) for script in SCRIPTS]
    page = page_template(sources)
    if not (target.is_file() and target.read_text(encoding="utf-8") == page):
        with atomic_path(target) as tmp:
            tmp.write_text(page, encoding="utf-8")
    # The template's own stamp: an edited or deleted template is written again.
    write_record(record, key, probe_stamps([target]))
    return target


def local_template_setting(root: Path) -> str | None:
    """`plots.html_template` in the project's `.dvc/config.local`, if it sets one."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(root / ".dvc" / "config.local", encoding="utf-8")
    except configparser.Error:
        return None  # DVC's own reader decides what such a file means
    return parser.get("plots", "html_template", fallback=None)


def use_plots_page(root: Path) -> None:
    """Point DVC's `plots.html_template` at the template, in the git-ignored local config
    (a DVC process, 0.5 s: only when the setting is not there yet)."""
    if local_template_setting(root) == TEMPLATE_SETTING:
        return
    setting = dvc_command("config", "--local", "plots.html_template", TEMPLATE_SETTING)
    result = subprocess.run(setting, cwd=root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PlotsPageError(
            f"`dvc config --local plots.html_template {TEMPLATE_SETTING}` failed in {root}: "
            f"{(result.stderr or result.stdout).strip()}"
        )
