"""Where the browser reaches the Bokeh servers a kernel starts for its panels, and which
pages may open their websockets, following Bokeh's notebook conventions.

Without ``notebook_url``, the address comes from the Jupyter server that started the kernel
(:mod:`.jupyter_servers`): the page is one of its, on whatever port, and the kernel's servers
are on 127.0.0.1 beside it.

``bokeh.io.show(app, notebook_url=...)`` takes either the notebook server's ``host:port``
(the kernel's server is then reached on the same host at its own port, and only pages from
``host:port`` may open its websockets), or a callable: given a port it returns the server's
URL, given None the origin allowed to open websockets.  Behind JupyterHub the kernel's ports
are not reachable directly, so Bokeh documents a callable that goes through the single-user
server's proxy at ``{public address}{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}`` (served by
jupyter-server-proxy); :func:`resolve_notebook_url` builds it from the environment.

This module imports nothing from Bokeh, so it is cheap to import and to test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .jupyter_servers import JupyterServerInfo, find_jupyter_server

#: A Bokeh notebook_url callable: port -> server URL; None -> allowed websocket origin.
ProxyUrl = Callable[[int | None], str]

#: Bokeh's default (``bokeh.io.notebook.DEFAULT_JUPYTER_URL``).
DEFAULT_NOTEBOOK_URL = "localhost:8888"

#: JupyterHub's environment of a single-user server, in order of preference, for the address
#: its users' browsers show: the server's public URL (set when the Hub's ``public_url`` is
#: configured), then the host of subdomain deployments.
PUBLIC_ADDRESS_VARIABLES = ("JUPYTERHUB_PUBLIC_URL", "JUPYTERHUB_HOST")


class JupyterHubAddressError(ValueError):
    """Behind JupyterHub, but the address browsers use is unknown: the kernel's server cannot
    tell which origin to allow."""


def jupyterhub_proxy_url(public: str, prefix: str) -> ProxyUrl:
    """Bokeh's JupyterHub callable: the kernel's port through ``{public}{prefix}proxy/{port}/``.

    ``public`` is the address in the users' browsers (``https://hub.example.org``; a path is
    ignored, the prefix already holds it); ``prefix`` is ``JUPYTERHUB_SERVICE_PREFIX``
    (``/user/alice/``).  Websockets are allowed from ``public``'s host only.
    """
    parts = urlsplit(public if "//" in public else f"https://{public}")
    if not parts.netloc:
        raise JupyterHubAddressError(f"{public!r} is not an address such as "
                                     "https://hub.example.org")
    base = f"{parts.scheme}://{parts.netloc}"
    path = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"

    def url(port: int | None) -> str:
        if port is None:
            return parts.netloc
        return f"{base}{path}proxy/{int(port)}/"

    return url


def resolve_notebook_url(notebook_url: str | ProxyUrl | None = None,
                         environ: Mapping[str, str] | None = None) -> str | ProxyUrl:
    """The ``notebook_url`` to give ``bokeh.io.show`` for a panel.

    * A callable is used as it is.
    * With ``JUPYTER_BOKEH_EXTERNAL_URL`` set (Bokeh's own variable for JupyterHub), the
      server is reached through the single-user server's proxy at that address, as Bokeh
      does, whatever ``notebook_url`` says.
    * Under JupyterHub (``JUPYTERHUB_SERVICE_PREFIX`` set) the server is reached through the
      single-user server's proxy; ``notebook_url``, if given, is the Hub's public address
      (``https://hub.example.org``), else it comes from ``JUPYTERHUB_PUBLIC_URL`` or
      ``JUPYTERHUB_HOST``.  Neither known is a :class:`JupyterHubAddressError`.
    * Otherwise ``notebook_url`` is the notebook server's ``host:port`` (default
      ``localhost:8888``), as in Bokeh.
    """
    if callable(notebook_url):
        return notebook_url
    env = os.environ if environ is None else environ
    if env.get("JUPYTER_BOKEH_EXTERNAL_URL"):
        return jupyterhub_proxy_url(env["JUPYTER_BOKEH_EXTERNAL_URL"],
                                    env.get("JUPYTERHUB_SERVICE_PREFIX", "/"))
    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX")
    if not prefix:
        return notebook_url or DEFAULT_NOTEBOOK_URL
    public = notebook_url or next(
        (env[key].strip() for key in PUBLIC_ADDRESS_VARIABLES if env.get(key, "").strip()),
        None)
    if public is None:
        raise JupyterHubAddressError(
            f"running behind JupyterHub (JUPYTERHUB_SERVICE_PREFIX={prefix}), but the "
            "address your browser shows is unknown (JupyterHub sets JUPYTERHUB_PUBLIC_URL "
            "only when its public_url is configured): pass it, as in "
            "webmon.show(..., notebook_url='https://hub.example.org'), or set "
            "JUPYTER_BOKEH_EXTERNAL_URL to it")
    return jupyterhub_proxy_url(public, prefix)


@dataclass(frozen=True)
class PanelAddress:
    """How the notebook page reaches the kernel's Bokeh servers."""

    #: A kernel server's port -> its URL as the page's browser reaches it.
    url: ProxyUrl
    #: Page origins (``host:port``) allowed to open the servers' websockets.
    origins: tuple[str, ...]
    #: How the address was found, for messages.
    found: str


def _from_host_port(notebook_url: str, found: str) -> PanelAddress:
    """Bokeh's meaning of a ``host:port`` (or ``http://host:port``) notebook_url."""
    origin = notebook_url.split("//", 1)[1] if notebook_url.startswith("http") else notebook_url
    if notebook_url.startswith("http"):
        base = notebook_url.rsplit(":", 1)[0] if notebook_url.count(":") > 1 else notebook_url
    else:
        base = "http://" + notebook_url.split(":")[0]
    base = base.rstrip("/")

    def url(port: int | None) -> str:
        return origin if port is None else f"{base}:{int(port)}"

    return PanelAddress(url, (origin,), found)


def local_address(server: JupyterServerInfo) -> PanelAddress:
    """The kernel's servers beside the Jupyter server ``server``, on 127.0.0.1 (where they
    listen), for pages from that server under any name of this machine."""

    def url(port: int | None) -> str:
        return server.origins[0] if port is None else f"http://127.0.0.1:{int(port)}"

    return PanelAddress(url, server.origins,
                        f"the Jupyter server on port {server.port} (pid {server.pid})")


def panel_address(notebook_url: str | ProxyUrl | None = None,
                  environ: Mapping[str, str] | None = None,
                  jupyter_server: JupyterServerInfo | None = None) -> PanelAddress:
    """Where the page reaches the kernel's servers: :func:`resolve_notebook_url`'s answer,
    except that with no ``notebook_url`` and no JupyterHub, the Jupyter server that started
    this kernel (``jupyter_server``, else looked up) gives it; without one, Bokeh's
    default ``localhost:8888``."""
    env = os.environ if environ is None else environ
    resolved = resolve_notebook_url(notebook_url, env)
    if callable(resolved):
        return PanelAddress(resolved, (resolved(None),), "JupyterHub's proxy"
                            if notebook_url is None else "the notebook_url function given")
    if notebook_url is None:
        server = jupyter_server or find_jupyter_server(env)
        if server is not None:
            return local_address(server)
        return _from_host_port(resolved, "Bokeh's default (no Jupyter server found for this "
                                         "kernel)")
    return _from_host_port(resolved, f"notebook_url={notebook_url!r}")
