"""uvicorn's internals (uvicorn 0.5x): the HTTP protocol class its default `http="auto"`
resolves when a server starts.

BentoML builds each worker's `uvicorn.Config` itself, with no protocol option. The config
loads `uvicorn.protocols.http.auto:AutoHTTPProtocol` by name when the server starts, after
the service module is imported, so replacing that module attribute at import is the one way
to put a protocol of ours under BentoML (reprokit.serving.http_limits). It is httptools'
protocol when httptools is installed, else h11's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def replace_auto_http_protocol(subclass_of: Callable[[type[Any]], type[Any]]) -> None:
    """Replace the httptools protocol behind `http="auto"` by `subclass_of(protocol)`, once.

    Without httptools (h11's protocol) nothing changes: h11 bounds the head itself.
    """
    from uvicorn.protocols.http import auto
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    if auto.AutoHTTPProtocol is HttpToolsProtocol:
        auto.AutoHTTPProtocol = subclass_of(HttpToolsProtocol)
