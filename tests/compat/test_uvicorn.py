"""Pins what reprokit._compat.uvicorn relies on in uvicorn."""

from __future__ import annotations

from typing import Any

from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.protocols.http import auto
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from reprokit._compat.uvicorn import replace_auto_http_protocol


def test_auto_resolves_the_module_attribute_at_start_and_is_httptools() -> None:
    assert HTTP_PROTOCOLS["auto"] == "uvicorn.protocols.http.auto:AutoHTTPProtocol"
    # httptools is in the lock (BentoML depends on it), so `auto` is its protocol.
    assert issubclass(auto.AutoHTTPProtocol, HttpToolsProtocol)


def test_replacing_happens_once_and_keeps_a_subclass() -> None:
    before = auto.AutoHTTPProtocol

    def subclass_of(base: type[Any]) -> type[Any]:
        return type("Bounded", (base,), {})

    try:
        auto.AutoHTTPProtocol = HttpToolsProtocol
        replace_auto_http_protocol(subclass_of)
        installed = auto.AutoHTTPProtocol
        replace_auto_http_protocol(subclass_of)
        assert auto.AutoHTTPProtocol is installed
        assert issubclass(installed, HttpToolsProtocol) and installed is not HttpToolsProtocol
    finally:
        auto.AutoHTTPProtocol = before
