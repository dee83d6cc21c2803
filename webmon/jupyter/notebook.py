"""``webmon.show(name)``: one dashboard panel, live, in a notebook's output.

Each call is Bokeh's standard way of embedding a server app in a notebook,
``bokeh.io.show(app, notebook_url=...)``: a Bokeh server on a free port of 127.0.0.1 inside
the kernel serves the panel, and the output is a script that loads it from there and keeps
it updated over a websocket that only the notebook's origin may open.  Clearing or
replacing the output destroys that server and its session (Bokeh's notebook extension asks
the kernel to); a page that closes releases its session a few seconds later.  Every panel's
session is fed by the kernel's one hub (:mod:`webmon.jupyter.kernel_hub`).

The tile viewer is a custom Bokeh model whose prebuilt bundle must be in the page before a
panel using it renders.  The kernel's servers send no resources (BokehJS comes from the
notebook's ``output_notebook``), so :func:`load` imports the model first and then runs
``output_notebook``: Bokeh inlines the bundle of every extension model registered at that
moment into the notebook's output, and no server static route is needed.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from bokeh.document import Document

from webmon.server.serve import CHECK_UNUSED_SESSIONS_MS, UNUSED_SESSION_LIFETIME_MS

from .catalog import Panel, build_panel_document, find_panel
from .kernel_hub import KernelHub
from .notebook_url import ProxyUrl, resolve_notebook_url

if TYPE_CHECKING:
    from bokeh.server.server import Server

#: The hub every panel of this kernel reads through.
KERNEL_HUB = KernelHub()
#: Id (in ``bokeh.io.state.curstate().uuid_to_server``) -> panel name, of every server
#: ``show`` started.
_servers: dict[str, str] = {}
_loaded = False


def load(resources: Any = None) -> None:
    """Load BokehJS and webmon's tile viewer into the notebook (``output_notebook``).

    :func:`show` calls it once per kernel.  Call it yourself to choose the resources, such as
    ``bokeh.resources.INLINE`` on a machine without internet access (the default follows
    Bokeh's ``BOKEH_RESOURCES`` setting, the CDN unless set).  With both, the tile viewer's
    bundle is inlined into the output.
    """
    global _loaded
    # Register every model the panels use (TileViewer among them) before the notebook load,
    # which bundles the extensions of the models registered at that time.
    from bokeh.io import output_notebook

    import webmon.apps  # noqa: F401

    output_notebook(resources=resources, hide_banner=True)
    _loaded = True


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def show(name: str, *, notebook_url: str | ProxyUrl | None = None,
         producer: str | None = None, interval: float | None = None) -> None:
    """Show the panel ``name`` (see :func:`webmon.panels`) live in this notebook cell.

    ``producer``: follow the producer of that name, or ``"name@pid"`` that process (default:
    the newest live one).
    ``notebook_url``: where the browser reaches the notebook server, as in
    ``bokeh.io.show``: ``"host:port"`` (default ``localhost:8888``), or a callable of the
    port; behind JupyterHub the panel goes through the single-user server's
    ``proxy/{port}`` and this is the Hub's public address, found in the environment when
    JupyterHub sets it (see ``docs/jupyter.md``).
    ``interval``: seconds between reads of shared memory, for every panel of the kernel
    (they share one reader; default 0.1).

    An unknown ``name`` raises :class:`~webmon.jupyter.UnknownPanelError`, a ``ValueError``
    listing the panels.
    """
    panel = find_panel(name)
    if not _in_kernel():
        raise RuntimeError("webmon.show() displays a panel in a Jupyter notebook; outside "
                           "one, run `webmon dashboard` and open it in a browser")
    url = resolve_notebook_url(notebook_url)
    KERNEL_HUB.set_interval(interval)
    if not _loaded:
        load()
    from bokeh.io import show as bokeh_show
    from bokeh.io.state import curstate

    servers = curstate().uuid_to_server
    for server_id in [s for s in _servers if s not in servers]:
        del _servers[server_id]  # Bokeh destroyed it: its output was cleared
    before = set(servers)
    bokeh_show(
        partial(_panel_document, panel, producer), notebook_url=url,
        # passed on to the kernel's bokeh.server.Server
        address="127.0.0.1",
        unused_session_lifetime_milliseconds=UNUSED_SESSION_LIFETIME_MS,
        check_unused_sessions_milliseconds=CHECK_UNUSED_SESSIONS_MS,
    )
    _servers.update(dict.fromkeys(set(servers) - before, panel.name))


def _panel_document(panel: Panel, producer: str | None, doc: Document) -> None:
    # Runs on the kernel's IOLoop each time a browser loads the panel.
    build_panel_document(KERNEL_HUB.acquire(), panel, producer, doc,
                         on_close=KERNEL_HUB.released)


def close() -> None:
    """Stop every panel server :func:`show` started in this kernel and the kernel's hub.

    Panels already shown stop updating.  Run it in the kernel (a cell), never from another
    thread.
    """
    from bokeh.io.notebook import destroy_server

    while _servers:
        server_id, _name = _servers.popitem()
        destroy_server(server_id)  # as a cleared output does: its sessions go with it
    KERNEL_HUB.stop()


def shown() -> list[tuple[str, Server]]:
    """``(panel name, Bokeh server)`` of every panel server of this kernel still running,
    in the order shown (for diagnostics and tests)."""
    from bokeh.io.state import curstate

    servers = curstate().uuid_to_server
    return [(name, servers[server_id]) for server_id, name in _servers.items()
            if server_id in servers]
