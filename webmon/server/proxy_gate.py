"""A shared secret between an authenticating reverse proxy and the dashboard behind it.

When the dashboard is started by a proxy that authenticates users itself (the Jupyter
server's jupyter-server-proxy, see ``webmon.jupyter.proxy``), the proxy puts a random secret
in the dashboard's environment (:data:`SECRET_ENV`) and adds it as a header
(:data:`SECRET_HEADER`) to every request it forwards, websocket handshakes included.  The
dashboard then answers 403 to any request without it, before a page is built or a
websocket upgraded: the only way in is through the proxy, that is through its login.

Without the gate, anything that can reach 127.0.0.1 could open the dashboard, including a
page on another site in a browser on this machine that guesses the port (and, once the
websocket origins accept the proxy's, open a session's websocket too).

Bokeh's static files (its JavaScript and the tile viewer's bundle) stay ungated: they are
the same public code for everyone and carry no data.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping

from tornado.web import RequestHandler

from .gate import RequestGate

#: Environment variable holding the secret for a dashboard started behind a proxy.
SECRET_ENV = "WEBMON_PROXY_SECRET"
#: Header the proxy adds to every request it forwards to the dashboard.
SECRET_HEADER = "X-Webmon-Proxy-Secret"
#: A secret shorter than this is refused: it must be random, not a password.
MIN_SECRET_LENGTH = 32


class ProxySecretAuth(RequestGate):
    """Bokeh auth hooks admitting only requests that carry the proxy's secret."""

    reason = "only reachable through the proxy"

    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"the proxy secret must be at least {MIN_SECRET_LENGTH} "
                             "characters of random text")
        self._secret = secret.encode("utf-8")
        super().__init__()

    def admits(self, handler: RequestHandler) -> bool:
        given = handler.request.headers.get(SECRET_HEADER, "")
        return hmac.compare_digest(given.encode("utf-8", "replace"), self._secret)


def from_environment(environ: Mapping[str, str] = os.environ) -> ProxySecretAuth | None:
    """The gate for the secret in :data:`SECRET_ENV`, or None when it is not set."""
    secret = environ.get(SECRET_ENV)
    if secret is None:
        return None
    return ProxySecretAuth(secret)
