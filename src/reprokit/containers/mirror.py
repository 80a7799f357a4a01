"""The Debian mirror apt is configured with, read from apt's sources, for debootstrap.

The base image is made from the same mirror (and security archive) the build host's apt
uses: that is the one this machine can reach, through whatever proxy it is behind.
Both formats are read: one-line `.list` files and deb822 `.sources` files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from reprokit.containers.errors import MirrorNotFoundError

APT_ETC = Path("/etc/apt")
# Overrides what apt's sources say (e.g. a mirror only the image build should use).
MIRROR_ENV = "REPROKIT_DEBIAN_MIRROR"
SECURITY_MIRROR_ENV = "REPROKIT_DEBIAN_SECURITY_MIRROR"


@dataclass(frozen=True)
class AptSource:
    """One `deb` entry: where, which suites, which components."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def parse_one_line(text: str) -> list[AptSource]:
    """`deb [options] URI SUITE COMPONENT...` lines (sources.list format); `deb-src` and
    comments are skipped."""
    sources: list[AptSource] = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):  # [arch=amd64 signed-by=...]
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2:
            sources.append(AptSource(words[0], (words[1],), tuple(words[2:])))
    return sources


def _deb822_stanzas(text: str) -> Iterable[dict[str, str]]:
    fields: dict[str, str] = {}
    name = ""
    for raw in [*text.splitlines(), ""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if fields:
                yield fields
            fields, name = {}, ""
        elif raw[0] in " \t" and name:  # a continuation line
            fields[name] += " " + raw.strip()
        elif ":" in raw:
            name, value = raw.split(":", 1)
            name = name.strip().lower()
            fields[name] = value.strip()


def parse_deb822(text: str) -> list[AptSource]:
    """Stanzas of a `.sources` file with `Types: deb`, unless `Enabled: no`."""
    sources: list[AptSource] = []
    for fields in _deb822_stanzas(text):
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        suites = tuple(fields.get("suites", "").split())
        components = tuple(fields.get("components", "").split())
        sources.extend(AptSource(uri, suites, components) for uri in fields["uris"].split())
    return sources


def source_files(etc: Path = APT_ETC) -> list[Path]:
    """apt's source files in the order apt reads them (other suffixes are ignored by apt)."""
    listed = sorted((etc / "sources.list.d").glob("*.list"))
    deb822 = sorted((etc / "sources.list.d").glob("*.sources"))
    main = [etc / "sources.list"] if (etc / "sources.list").is_file() else []
    return [*main, *listed, *deb822]


def read_sources(files: Iterable[Path]) -> list[AptSource]:
    sources: list[AptSource] = []
    for path in files:
        parse = parse_deb822 if path.suffix == ".sources" else parse_one_line
        sources.extend(parse(path.read_text(encoding="utf-8", errors="replace")))
    return sources


def _serving(sources: Iterable[AptSource], suite: str) -> str | None:
    for source in sources:
        if suite in source.suites and "main" in source.components:
            return source.uri.rstrip("/")
    return None


@dataclass(frozen=True)
class Mirrors:
    """Where the base image's packages come from: the suite's archive and, when apt has one,
    its security archive (so the image gets Debian's security updates)."""

    archive: str
    security: str | None


def debian_mirrors(
    sources: Iterable[AptSource], suite: str, environ: Mapping[str, str], files: list[Path]
) -> Mirrors:
    """The mirrors serving `suite`'s main component (and `suite-security`), the environment's
    overrides first; no mirror is an error naming the files read and the fix."""
    sources = list(sources)
    archive = environ.get(MIRROR_ENV) or _serving(sources, suite)
    if not archive:
        read = ", ".join(str(path) for path in files) or "no source files"
        raise MirrorNotFoundError(
            f"no Debian mirror for '{suite}' (main) in apt's sources ({read}): add one "
            f"(e.g. 'deb http://deb.debian.org/debian {suite} main') or set {MIRROR_ENV}"
        )
    security = environ.get(SECURITY_MIRROR_ENV) or _serving(sources, f"{suite}-security")
    return Mirrors(archive=archive.rstrip("/"), security=security)
