"""The two plain HTTP routes beside the Bokeh applications.

Both are Bokeh ``AuthRequestHandler``s, so the server's auth hooks (the proxy gate,
``proxy_gate.py``) apply to them as to Bokeh's own pages.
"""

from __future__ import annotations

import json

from bokeh.server.views.auth_request_handler import AuthRequestHandler


class RootRedirect(AuthRequestHandler):
    """``/`` (or ``/<prefix>`` and ``/<prefix>/``) -> the first tab, by a relative redirect.

    A relative ``Location`` keeps working behind a proxy that adds its own prefix
    (jupyter-server-proxy, JupyterHub), which an absolute one would drop.
    """

    def initialize(self, target: str) -> None:
        self.target = target

    def get(self) -> None:
        self.redirect(relative_location(self.request.path, self.target, self.request.query))


def relative_location(path: str, target: str, query: str = "") -> str:
    """Where to send a request for ``path`` so that the browser lands on ``target`` beside
    it: ``/`` -> ``status``; ``/prefix`` -> ``prefix/status``; ``/prefix/`` -> ``status``."""
    if path.endswith("/"):
        location = target
    else:
        location = f"{path.rsplit('/', 1)[-1]}/{target}"
    return f"{location}?{query}" if query else location


class IndividualPlots(AuthRequestHandler):
    """``/individual-plots.json``: title -> path of each component served alone.

    The same shape as the Dask dashboard's, so tools that list Dask's plots (the JupyterLab
    extension) can list these; paths are relative to the dashboard's root.
    """

    def initialize(self, plots: dict[str, str]) -> None:
        self.plots = plots

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(self.plots, indent=2, sort_keys=True))
