"""The dashboard in JupyterLab: a jupyter-server-proxy server process.

``pyproject.toml`` registers :func:`setup_webmon_proxy` under the
``jupyter_serverproxy_servers`` entry point, so a Jupyter server with jupyter-server-proxy
installed serves the dashboard at ``{base_url}webmon/`` and JupyterLab's launcher gets a
*webmon* item.  The first request there starts ``webmon dashboard`` with this interpreter on
a free port of 127.0.0.1; the Jupyter server proxies pages and websockets to it and stops it
when the Jupyter server stops.

How a request gets in (the security model, also in ``docs/jupyter.md``):

* The browser only ever talks to the Jupyter server, which authenticates every proxied
  request (token or login cookie; unauthenticated pages redirect to its login, websockets
  get 403) and checks the websocket's ``Origin`` against its own address, as it does for
  kernels.
* The dashboard binds 127.0.0.1 only.  The Jupyter server generates a random secret when it
  loads this entry point, gives it to the dashboard in its environment (never on the command
  line, which every local user can read) and adds it as a header to every request it
  forwards; the dashboard refuses any request without it (``webmon.server.proxy_gate``).  So
  a local process, or a page on another site in a browser on this machine, that finds the
  dashboard's port gets 403: the only way in is the Jupyter server's authentication.
* Websocket origins: jupyter-server-proxy forwards the browser's handshake headers as they
  are, ``Host`` and ``Origin`` both naming the Jupyter server as the browser reached it
  (``127.0.0.1:8888``, a JupyterHub's ``hub.example.org``, an ssh tunnel's
  ``localhost:9999``...), an address the dashboard cannot know in advance.  The Jupyter
  server has already refused a handshake from another site's page (its own origin check,
  as for kernels).  Tornado 6.6 accepts a handshake whose ``Origin`` matches its ``Host``
  without consulting the allowed list, so in the usual case the list is never used; it
  would refuse the proxied handshakes with older Tornado, or behind a Jupyter server
  configured with ``allow_origin`` for an embedding site.  So this dashboard accepts any
  ``Origin`` (``--allow-websocket-origin=*``): that adds nothing anyone can use, because
  without the secret no handshake gets that far, and with it the request came through
  the Jupyter server's checks.  A dashboard started by hand keeps its strict default list.
* Bokeh's session token, written into each page, carries no request headers or cookies
  (``include_headers=[]``, ``include_cookies=[]`` in the server), so neither the secret
  nor the Jupyter login cookie reaches the page's JavaScript.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any

#: The proxied server's name: its URL is ``{base_url}webmon/``.
NAME = "webmon"
ICON = Path(__file__).resolve().parent / "webmon.svg"
#: The dashboard process imports Bokeh and pandas before it answers; on a busy machine
#: that takes several seconds (jupyter-server-proxy's default is 5 s).
START_TIMEOUT_S = 60.0

# The same names as webmon.server.proxy_gate.SECRET_ENV and SECRET_HEADER (a test checks):
# importing webmon.server would load Bokeh into every Jupyter server at startup.
SECRET_ENV = "WEBMON_PROXY_SECRET"
SECRET_HEADER = "X-Webmon-Proxy-Secret"


def dashboard_command(python: str = sys.executable) -> list[str]:
    """``webmon dashboard`` as jupyter-server-proxy runs it, with its ``{port}`` and
    ``{base_url}`` templates: the same interpreter as the Jupyter server (not whatever
    ``webmon`` is first on PATH), the proxy's prefix, any websocket origin (see above)."""
    return [
        python, "-m", "webmon.cli", "dashboard",
        "--host", "127.0.0.1",
        "--port", "{port}",
        "--prefix", "{base_url}" + NAME,
        "--allow-websocket-origin", "*",
    ]


def setup_webmon_proxy() -> dict[str, Any]:
    """jupyter-server-proxy's server-process specification for the dashboard.

    Called once by each Jupyter server at startup; the secret lives as long as that server.
    """
    secret = secrets.token_urlsafe(32)
    return {
        "command": dashboard_command(),
        "environment": {SECRET_ENV: secret},
        "request_headers_override": {SECRET_HEADER: secret},
        # Forward the full path (/user/x/webmon/status): the dashboard serves under the
        # same prefix, so its relative links and redirects hold at every level.
        "absolute_url": True,
        "timeout": START_TIMEOUT_S,
        # Open inside JupyterLab, beside the notebooks, rather than in another browser tab.
        "new_browser_tab": False,
        "launcher_entry": {
            "enabled": True,
            "title": "webmon",
            "icon_path": str(ICON),
        },
    }


__all__ = ["NAME", "dashboard_command", "setup_webmon_proxy"]
