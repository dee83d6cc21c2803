"""The kernel's Bokeh servers behind notebook panels, and the cell outputs that load them.

* One *resources server* per kernel (127.0.0.1, a free port, no application) serves BokehJS
  and the tile viewer's bundle from the installed Bokeh and webmon.  The first panel's
  output is Bokeh's notebook load script (``output_notebook``) pointing at it: the notebook
  keeps addresses, not copies of BokehJS, and needs no CDN, so it works offline.
* One *panel server* per shown panel, as ``bokeh.io.show(app)`` makes in a notebook, but
  with every origin of the page allowed (:class:`~.notebook_url.PanelAddress`), and an output
  that says so visibly in the cell when the page cannot reach it.

Both listen on 127.0.0.1 and run on the kernel's IOLoop.  A panel server is registered
under an id in ``bokeh.io.state.curstate().uuid_to_server`` and its output carries that id as
Bokeh's own does, so ``bokeh.io.notebook.destroy_server`` (what Bokeh's notebook extension and
jupyter_bokeh call when an output is cleared) stops it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from .notebook_url import PanelAddress

if TYPE_CHECKING:
    from bokeh.application import Application
    from bokeh.server.server import Server
    from tornado.ioloop import IOLoop

HTML_MIME = "text/html"
#: Bokeh's MIME type of a server app's output; its metadata holds the server's id.
EXEC_MIME = "application/vnd.bokehjs_exec.v0+json"
#: After this long without the panel drawn, its output says the page cannot reach it.
CONNECT_TIMEOUT_MS = 20_000


#: Watches a panel's output: removes the status line once the panel is drawn, or says the
#: page cannot reach the server when its script fails or time runs out.
_STATUS_JS = """
(function () {
  const status = document.getElementById(__ID__);
  if (status == null) return;
  const started = Date.now();
  const drawn = () => {
    const panel = status.previousElementSibling;
    return panel != null && panel.tagName == "DIV" && panel.childElementCount > 0;
  };
  const fail = (why) => {
    if (status.dataset.failed) return;
    status.dataset.failed = why;
    status.style.color = "#b00020";
    status.textContent = __FAILED__;
  };
  const script = status.previousElementSibling;
  if (script != null && script.tagName == "SCRIPT") {
    script.addEventListener("error", () => fail("script"));
  }
  const timer = setInterval(() => {
    if (!status.isConnected || drawn()) {
      clearInterval(timer);
      status.remove();
    } else if (Date.now() - started > __TIMEOUT__) {
      fail("timeout");
    }
  }, 250);
})();
"""


def publish(data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
    """Send a display output to the notebook (tests replace it)."""
    from IPython.display import publish_display_data

    publish_display_data(data, metadata=metadata)


def start_server(apps: dict[str, Application | Callable[..., Any]], loop: IOLoop,
                 origins: tuple[str, ...], **kwargs: Any) -> Server:
    """A Bokeh server on 127.0.0.1 and a free port, on ``loop``, started."""
    from bokeh.server.server import Server

    server = Server(apps, io_loop=loop, address="127.0.0.1", port=0,
                    allow_websocket_origin=list(origins), **kwargs)
    server.start()
    return server


def load_from(server_url: str) -> None:
    """Load BokehJS and every registered extension into the page from the Bokeh server at
    ``server_url`` (its ``/static/``), with Bokeh's notebook load script."""
    from bokeh.io import output_notebook
    from bokeh.resources import Resources

    output_notebook(resources=Resources(mode="server", root_url=server_url.rstrip("/") + "/"),
                    hide_banner=True)


def status_html(name: str, url: str, address: PanelAddress) -> str:
    """A line under the panel's script that says it is loading, then, if the panel is not
    drawn within :data:`CONNECT_TIMEOUT_MS`, that the page cannot reach its server and why
    that may be; it goes away once the panel is drawn, however late.

    Bokeh replaces the script with a ``div`` and draws the panel into it, so the panel is
    drawn when the element before this line is a ``div`` with children."""
    element_id = f"webmon-status-{uuid4().hex}"
    waiting = f"webmon: loading the panel {name!r} from {url} …"
    failed = (f"webmon: the panel {name!r} cannot reach its server at {url} from this page. "
              "Is the kernel still running? A browser on another machine reaches the kernel's "
              "ports only through jupyter-server-proxy (pass notebook_url=, see webmon's "
              f"docs/jupyter.md). Address from {address.found}.")
    script = (_STATUS_JS.replace("__ID__", json.dumps(element_id))
              .replace("__FAILED__", json.dumps(failed))
              .replace("__TIMEOUT__", str(CONNECT_TIMEOUT_MS)))
    return (f'<div id="{element_id}" class="webmon-panel-status" '
            'style="font: 13px sans-serif; color: #555; padding: 4px 0">'
            f"{html.escape(waiting)}</div>\n<script>{script}</script>")


def show_server_app(name: str, app: Callable[..., Any], address: PanelAddress, loop: IOLoop,
                    **server_kwargs: Any) -> str:
    """Serve ``app`` from a new panel server and show it in this cell's output; returns the
    server's id in ``curstate().uuid_to_server``."""
    from bokeh.embed import server_document
    from bokeh.io.state import curstate

    server = start_server({"/": app}, loop, address.origins, **server_kwargs)
    server_id = uuid4().hex
    curstate().uuid_to_server[server_id] = server
    url = address.url(server.port)
    # Bokeh's own output first (renderers of Bokeh's MIME type look for its script).
    script = server_document(url, resources=None)
    publish({HTML_MIME: script + "\n" + status_html(name, url, address), EXEC_MIME: ""},
            metadata={EXEC_MIME: {"server_id": server_id}})
    return server_id
