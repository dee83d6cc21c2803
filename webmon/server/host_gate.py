"""On loopback, answer only requests addressed to a loopback name (against DNS rebinding).

Binding 127.0.0.1 keeps other machines out, but not other sites: a page on
``evil.example`` can make its name resolve to 127.0.0.1 (DNS rebinding) and then talk to
the dashboard as its own origin.  Its requests then carry ``Host: evil.example:PORT``, and
Tornado accepts a websocket whose ``Origin`` matches its ``Host`` without consulting the
allowed origins.  A dashboard served on loopback therefore refuses any request whose
``Host`` is not ``localhost``, ``*.localhost`` or a loopback address (as the Jupyter server
does for its ``local_hostnames``).

It is off when the user serves beyond loopback deliberately (``--host``, or explicit
``--allow-websocket-origin`` for a reverse proxy that keeps the public ``Host``), and when
the proxy gate is on (the secret already proves the request came through the proxy).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from tornado.web import RequestHandler

from .gate import RequestGate


def is_loopback_name(host: str) -> bool:
    """Whether ``host`` (a hostname or address, without port) names this machine's loopback."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(header: str) -> str:
    """The host part of a ``Host`` header (``name``, ``name:port``, ``[v6]:port``)."""
    try:
        return urlsplit(f"//{header}").hostname or ""
    except ValueError:
        return ""


class LoopbackHostGate(RequestGate):
    """Admit only requests whose ``Host`` header names the loopback interface."""

    reason = "the dashboard answers only to localhost"

    def admits(self, handler: RequestHandler) -> bool:
        return is_loopback_name(host_of(handler.request.headers.get("Host", "")))
