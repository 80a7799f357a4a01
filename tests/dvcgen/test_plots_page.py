"""The offline `dvc plots show` page: Vega verified against its pinned hash, then inlined in
a template DVC accepts (its placeholders kept, no CDN script tag)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from reprokit.dvcgen import plots_page
from reprokit.dvcgen.plots_page import (
    SCRIPTS,
    PlotsPageError,
    Script,
    browser_build,
    integrity_of,
    page_template,
    write_plots_page,
)


def _tarball(member: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = text.encode()
        info = tarfile.TarInfo(member)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_verified_tarball_gives_its_browser_build() -> None:
    tarball = _tarball("package/build/vega.min.js", "var vega = 1;")
    script = Script("vega", "5.20.2", integrity_of(tarball), "package/build/vega.min.js")
    assert browser_build(script, tarball) == "var vega = 1;"


def test_a_tarball_that_does_not_match_its_hash_is_refused_naming_it() -> None:
    tarball = _tarball("package/build/vega.min.js", "var vega = 1;")
    script = Script("vega", "5.20.2", integrity_of(b"other"), "package/build/vega.min.js")
    with pytest.raises(PlotsPageError, match=r"vega-5\.20\.2\.tgz does not match its pinned hash"):
        browser_build(script, tarball)


def test_the_template_inlines_the_scripts_and_keeps_dvcs_placeholders() -> None:
    from dvc_render.html import HTML

    template = page_template(["var vega = 1;", "var vegaLite = 2;"])
    assert "{plot_divs}" in template and "{refresh_tag}" in template
    assert "{scripts}" not in template  # else DVC adds its CDN <script src=...> tags
    rendered = HTML(template).with_scripts('<script src="https://cdn/x"></script>')
    page = rendered.with_element("<div id='ROC'></div>").embed()
    assert "https://cdn" not in page and "<div id='ROC'></div>" in page
    assert page.index("var vega = 1;") < page.index("var vegaLite = 2;")


def test_a_script_that_would_end_its_element_early_is_refused() -> None:
    with pytest.raises(PlotsPageError, match="cannot be inlined"):
        page_template(["var s = '</script>';"])


def _pinned_tarballs(cache: Path) -> tuple[Script, ...]:
    """Fake releases in the user cache `fetch_tarball` reads first, and their pins."""
    cache.mkdir(parents=True)
    pins = []
    for script in SCRIPTS:
        tarball = _tarball(script.member, f"var {script.package.replace('-', '')} = 1;")
        (cache / f"{script.package}-{script.version}.tgz").write_bytes(tarball)
        pins.append(Script(script.package, script.version, integrity_of(tarball), script.member))
    return tuple(pins)


def test_the_template_is_rebuilt_only_when_it_or_its_pins_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    pins = _pinned_tarballs(tmp_path / "cache" / "reprokit" / "npm")
    monkeypatch.setattr(plots_page, "SCRIPTS", pins)
    root = tmp_path / "project"
    target = write_plots_page(root)
    assert "var vega = 1;" in target.read_text()
    unpacked: list[Script] = []

    def unpack(script: Script, _tarball: bytes) -> str:
        unpacked.append(script)
        return ""

    monkeypatch.setattr(plots_page, "browser_build", unpack)
    write_plots_page(root)
    assert unpacked == []  # recorded: nothing fetched or unpacked
    target.write_text("edited by hand")
    write_plots_page(root)
    assert len(unpacked) == len(pins)  # an edited template is written again
