"""The dashboard server: an embedded Bokeh ``Server`` with one app per tab, and the hub.

``Dashboard`` is what ``webmon dashboard`` runs; :func:`serve_in_thread` runs the same in a
background thread, for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from bokeh.server.auth_provider import AuthProvider
from bokeh.server.server import Server
from tornado.ioloop import IOLoop

from .app import individual_paths, make_applications
from .handlers import IndividualPlots, RootRedirect
from .host_gate import LoopbackHostGate, is_loopback_name
from .hub import DEFAULT_HISTORY, Hub
from .record_button import Recordings
from .registry import Tab, stream_histories, tab_routes

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8790
DEFAULT_INTERVAL_S = 0.1
#: A session whose browser tab closed is destroyed after this long without a connection...
UNUSED_SESSION_LIFETIME_MS = 3000
#: ...checked this often: a closed tab stops costing anything within about four seconds.
CHECK_UNUSED_SESSIONS_MS = 1000


def websocket_origins(host: str, port: int, extra: Sequence[str] | None) -> list[str]:
    """The origins allowed to open a session's websocket.

    Only the served ``host:port`` (and, when serving on loopback, its ``localhost`` and
    ``127.0.0.1`` spellings), unless origins are given explicitly: a page on another site
    cannot drive the dashboard through the user's browser.
    """
    if extra:
        return list(extra)
    origins = [f"{_bracket(host)}:{port}"]
    if is_loopback_name(host):
        for alias in ("localhost", "127.0.0.1"):
            if f"{alias}:{port}" not in origins:
                origins.append(f"{alias}:{port}")
    return origins


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def default_gate(host: str, allow_websocket_origin: Sequence[str]) -> AuthProvider | None:
    """The Host check when serving on loopback with the default origins; else none (the user
    serves beyond loopback, or names the origins a reverse proxy presents, deliberately)."""
    if is_loopback_name(host) and not allow_websocket_origin:
        return LoopbackHostGate()
    return None


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class Dashboard:
    """The Bokeh server and its hub.  Create and :meth:`start` it on the thread whose IOLoop
    will run it."""

    def __init__(
        self,
        tabs: Sequence[Tab],
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        interval: float = DEFAULT_INTERVAL_S,
        producer: str | None = None,
        prefix: str = "",
        allow_websocket_origin: Sequence[str] | None = None,
        auth_provider: AuthProvider | None = None,
        history: int = DEFAULT_HISTORY,
        hub: Hub | None = None,
        unused_session_lifetime_ms: int = UNUSED_SESSION_LIFETIME_MS,
        check_unused_sessions_ms: int = CHECK_UNUSED_SESSIONS_MS,
        recordings: Recordings | None = None,
    ) -> None:
        if not tabs:
            raise ValueError("a dashboard needs at least one tab")
        self.tabs = list(tabs)
        self.host = host
        self.requested_port = port
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.allow_websocket_origin = list(allow_websocket_origin or [])
        #: Bokeh auth hooks every page, session and websocket must pass: the proxy's
        #: (``proxy_gate``) when given, else on loopback the Host check (``host_gate``).
        self.auth_provider = auth_provider or default_gate(host, self.allow_websocket_origin)
        self.hub = hub or Hub(interval=interval, producer=producer, history=history,
                              histories=stream_histories(self.tabs))
        self._session_opts = {
            "unused_session_lifetime_milliseconds": unused_session_lifetime_ms,
            "check_unused_sessions_milliseconds": check_unused_sessions_ms,
        }
        #: Starts and stops recordings for the header's Record button (none: no button).
        self.recordings = recordings
        self.server: Server | None = None

    @property
    def port(self) -> int:
        if self.server is None:
            raise RuntimeError("the dashboard is not started")
        return self.server.port

    @property
    def url(self) -> str:
        """Address of the dashboard's root (which redirects to the first tab)."""
        return f"http://{_bracket(self.host)}:{self.port}{self.prefix}/"

    def start(self, io_loop: IOLoop | None = None) -> None:
        """Bind, serve and start the hub on ``io_loop`` (default: the current one)."""
        first = self.tabs[0].name
        patterns: list[Any] = [
            (r"/?", RootRedirect, {"target": first}),
            (r"/individual-plots\.json", IndividualPlots, {"plots": individual_paths(self.tabs)}),
            *tab_routes(self.tabs, self.hub),
        ]
        # Bokeh binds the port itself; to restrict websocket origins to the real port when
        # asked for any free one (0), pick it first, retrying if another process takes it.
        for attempt in range(5):
            port = self.requested_port or _free_port(self.host)
            try:
                self.server = Server(
                    make_applications(self.hub, self.tabs, self.recordings),
                    io_loop=io_loop,
                    address=self.host,
                    port=port,
                    prefix=self.prefix,
                    allow_websocket_origin=websocket_origins(
                        self.host, port, self.allow_websocket_origin),
                    extra_patterns=patterns,
                    use_index=False,
                    redirect_root=False,
                    # Bokeh copies the request's headers and cookies into the session token
                    # it writes into the page; no tab uses them, and behind a proxy they
                    # hold its login cookie and secret, which the page must not expose.
                    include_headers=[],
                    include_cookies=[],
                    **({"auth_provider": self.auth_provider} if self.auth_provider else {}),
                    **self._session_opts,
                )
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or self.requested_port or attempt == 4:
                    raise
        assert self.server is not None
        self.server.start()
        self.hub.start(self.server.io_loop)
        log.info("webmon dashboard at %s", self.url)

    def stop(self) -> None:
        """Stop serving, close recordings in progress, and release the hub's shared memory.
        Call on the IOLoop's thread."""
        if self.recordings is not None:
            self.recordings.close()
        self.hub.stop()
        if self.server is not None:
            self.server.stop(wait=False)
            self.server.unlisten()


@contextlib.contextmanager
def serve_in_thread(tabs: Sequence[Tab], **options: Any) -> Iterator[Dashboard]:
    """Run a :class:`Dashboard` on its own IOLoop in a background thread (port 0 by default);
    stop it on leaving the block."""
    options.setdefault("port", 0)
    started = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        loop = IOLoop.current()
        try:
            dashboard = Dashboard(tabs, **options)
            dashboard.start(loop)
        except BaseException as exc:
            holder["error"] = exc
            started.set()
            return
        holder["dashboard"], holder["loop"] = dashboard, loop
        started.set()
        loop.start()
        loop.close(all_fds=True)

    thread = threading.Thread(target=run, name="webmon-dashboard", daemon=True)
    thread.start()
    started.wait()
    if "error" in holder:
        raise holder["error"]
    dashboard, loop = holder["dashboard"], holder["loop"]
    try:
        yield dashboard
    finally:
        def shutdown() -> None:
            dashboard.stop()
            loop.stop()

        loop.add_callback(shutdown)
        thread.join(timeout=10)


def call_on_loop(dashboard: Dashboard, fn: Any, *args: Any, timeout: float = 10.0) -> Any:
    """Run ``fn(*args)`` on the dashboard's IOLoop and return its result (for code on other
    threads, such as tests, that must not touch Bokeh documents concurrently)."""
    assert dashboard.server is not None
    loop = dashboard.server.io_loop
    done = threading.Event()
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = fn(*args)
        except BaseException as exc:
            result["error"] = exc
        finally:
            done.set()

    loop.add_callback(run)
    if not done.wait(timeout):
        raise TimeoutError(f"{fn!r} did not run on the dashboard's loop within {timeout} s")
    if "error" in result:
        raise result["error"]
    return result["value"]
