"""``webmon.show(name)``: one dashboard panel, live, in a notebook's output.

Each call serves the panel from a Bokeh server on a free port of 127.0.0.1 inside the kernel,
as ``bokeh.io.show(app)`` does in a notebook, and the output is a script that loads it from
there and keeps it updated over a websocket that only the notebook's pages may open.  Where
the page is comes from the Jupyter server that started the kernel, on whatever port
(:mod:`.notebook_url`), unless ``notebook_url`` says.  Clearing or replacing the output
destroys that server and its session (when Bokeh's notebook extension or jupyter_bokeh asks
the kernel to); a page that closes releases its session a few seconds later.  Every panel's
session is fed by the kernel's one hub (:mod:`webmon.jupyter.kernel_hub`).

BokehJS and the tile viewer's bundle come from the kernel too (:mod:`.embed`): the first
panel's output loads them from the kernel's resources server, so a notebook needs no CDN
(it works offline) and a saved notebook holds no copy of BokehJS.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from bokeh.document import Document

from webmon.server.serve import CHECK_UNUSED_SESSIONS_MS, UNUSED_SESSION_LIFETIME_MS

from . import embed
from .catalog import Panel, build_panel_document, find_panel
from .kernel_hub import KernelHub
from .notebook_url import PanelAddress, ProxyUrl, panel_address

if TYPE_CHECKING:
    from bokeh.server.server import Server

#: The hub every panel of this kernel reads through.
KERNEL_HUB = KernelHub()
#: Id (in ``bokeh.io.state.curstate().uuid_to_server``) -> panel name, of every server
#: ``show`` started.
_servers: dict[str, str] = {}
_loaded = False
#: The kernel's server of BokehJS and the tile viewer's bundle (started by the first load).
_resources_server: Server | None = None


def load(resources: Any = None, *, notebook_url: str | ProxyUrl | None = None) -> None:
    """Load BokehJS and webmon's tile viewer into the notebook page.

    :func:`show` calls it once per kernel.  By default both come from a Bokeh server in this
    kernel (127.0.0.1, a free port), reached as ``notebook_url`` says (as in :func:`show`):
    no CDN, nothing inlined.  ``resources`` (a ``bokeh.resources.Resources``, such as
    ``bokeh.resources.CDN``) loads them that way instead, with Bokeh's ``output_notebook``.
    """
    global _loaded, _resources_server
    # Register every model the panels use (TileViewer among them) before the notebook load,
    # which loads the extensions of the models registered at that time.
    from bokeh.io import output_notebook

    import webmon.apps  # noqa: F401

    if resources is not None:
        output_notebook(resources=resources, hide_banner=True)
    else:
        from tornado.ioloop import IOLoop

        address = panel_address(notebook_url)
        if _resources_server is None:
            _resources_server = embed.start_server({}, IOLoop.current(), address.origins)
        embed.load_from(address.url(_resources_server.port))
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
    ``bokeh.io.show``: ``"host:port"`` or a callable of the port.  By default it is the
    Jupyter server that started this kernel, on whatever port (Bokeh's ``localhost:8888``
    when there is none); behind JupyterHub the panel goes through the single-user server's
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
    address = panel_address(notebook_url)
    KERNEL_HUB.set_interval(interval)
    from bokeh.io.state import curstate
    from tornado.ioloop import IOLoop

    loop = IOLoop.current()
    KERNEL_HUB.bind(loop)
    if not _loaded:
        load(notebook_url=notebook_url)
    servers = curstate().uuid_to_server
    for server_id in [s for s in _servers if s not in servers]:
        del _servers[server_id]  # Bokeh destroyed it: its output was cleared
    made: list[str] = []  # the server's id, once it has one
    server_id = embed.show_server_app(
        panel.name, partial(_panel_document, panel, producer, made), address, loop,
        unused_session_lifetime_milliseconds=UNUSED_SESSION_LIFETIME_MS,
        check_unused_sessions_milliseconds=CHECK_UNUSED_SESSIONS_MS)
    made.append(server_id)
    _servers[server_id] = panel.name


def address(notebook_url: str | ProxyUrl | None = None) -> PanelAddress:
    """Where :func:`show` would serve panels from, and which pages may open them."""
    return panel_address(notebook_url)


def _panel_document(panel: Panel, producer: str | None, made: list[str], doc: Document
                    ) -> None:
    # Runs each time a browser loads the panel (Bokeh 3.10: in a worker thread).
    build_panel_document(KERNEL_HUB.acquire(), panel, producer, doc,
                         on_close=KERNEL_HUB.released,
                         server_running=partial(_server_running, made))


def _server_running(made: list[str]) -> bool:
    """Whether the panel server with the id in ``made`` still runs: ``destroy_server`` (a
    cleared output, :func:`close`) stops it and drops it from Bokeh's table of servers."""
    from bokeh.io.state import curstate

    return not made or made[0] in curstate().uuid_to_server


def close() -> None:
    """Stop every panel server :func:`show` started in this kernel, the kernel's hub and its
    resources server.

    Panels already shown stop updating.  Run it in the kernel (a cell), never from another
    thread.
    """
    global _loaded, _resources_server
    from bokeh.io.notebook import destroy_server

    while _servers:
        server_id, _name = _servers.popitem()
        destroy_server(server_id)  # as a cleared output does: its sessions go with it
    KERNEL_HUB.stop()
    if _resources_server is not None:
        _resources_server.stop()
        _resources_server = None
        _loaded = False  # the next panel loads BokehJS from a new one


def shown() -> list[tuple[str, Server]]:
    """``(panel name, Bokeh server)`` of every panel server of this kernel still running,
    in the order shown (for diagnostics and tests)."""
    from bokeh.io.state import curstate

    servers = curstate().uuid_to_server
    return [(name, servers[server_id]) for server_id, name in _servers.items()
            if server_id in servers]
