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
#: With ``next_free_port``, the ports after a taken one that are tried before any free one.
NEXT_PORTS_TRIED = 10
#: Bind errors that say "not this port" rather than "something else is wrong".
_PORT_ERRORS = {
    errno.EADDRINUSE: "is already in use",
    errno.EACCES: "needs privileges this process lacks",
    errno.EADDRNOTAVAIL: "is not an address of this machine",
}


class PortUnavailable(OSError):
    """The dashboard cannot listen on ``host:port``; ``reason`` says why in a few words
    (``"is already in use"``)."""

    def __init__(self, host: str, port: int, reason: str, code: int | None = None) -> None:
        self.host = host
        self.port = port
        self.reason = reason
        #: True when the host, not the port, is what cannot be had.
        self.about_host = code in (None, errno.EADDRNOTAVAIL)
        where = host if self.about_host else f"port {port} on {host}"
        self.message = f"{where} {reason}"
        super().__init__(code, self.message)

    def __str__(self) -> str:
        return self.message


def check_port(port: object) -> int:
    """``port`` if it is a TCP port number (0 to 65535; 0 asks for any free one), else
    ValueError saying so (Bokeh itself fails on an assertion)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"{port!r} is not a port: give a number from 0 to 65535 "
                         "(0 picks any free port)")
    return port


def _unavailable(host: str, port: int, exc: OSError) -> PortUnavailable | None:
    if isinstance(exc, socket.gaierror):
        return PortUnavailable(host, port, f"is not a host name this machine can resolve "
                                           f"({exc.strerror or exc})")
    reason = _PORT_ERRORS.get(exc.errno)
    return None if reason is None else PortUnavailable(host, port, reason, exc.errno)


class _ClosedTabFilter(logging.Filter):
    """Drops Bokeh's "Failed sending message as connection was closed".

    Bokeh logs it as a warning whenever a message goes out while a browser tab closes: the
    socket closes between two frames of a message, before tornado tells Bokeh the
    connection is lost.  Closing a tab is normal and the message was for that tab alone,
    so there is nothing to warn about; any other warning of that logger still shows.
    """

    MESSAGE = "Failed sending message as connection was closed"

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.MESSAGE


_CLOSED_TAB_FILTER = _ClosedTabFilter()
#: Where Bokeh logs it (``bokeh/server/views/ws.py``).
BOKEH_WS_LOGGER = "bokeh.server.views.ws"


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
        next_free_port: bool = False,
    ) -> None:
        if not tabs:
            raise ValueError("a dashboard needs at least one tab")
        self.tabs = list(tabs)
        self.host = host
        self.requested_port = check_port(port)
        #: When the requested port is taken, serve on the next free one (see
        #: :attr:`moved_from`) instead of raising :class:`PortUnavailable`.
        self.next_free_port = next_free_port
        #: The requested port, when it was taken and the dashboard serves on another.
        self.moved_from: int | None = None
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
        self._io_loop: IOLoop | None = None

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
        """Bind, serve and start the hub on ``io_loop`` (default: the current one).

        Raises :class:`PortUnavailable` (having started nothing) when the port is taken and
        ``next_free_port`` is off, or cannot be bound at all.
        """
        self._io_loop = io_loop
        logging.getLogger(BOKEH_WS_LOGGER).addFilter(_CLOSED_TAB_FILTER)  # once: a set
        first = self.tabs[0].name
        patterns: list[Any] = [
            (r"/?", RootRedirect, {"target": first}),
            (r"/individual-plots\.json", IndividualPlots, {"plots": individual_paths(self.tabs)}),
            *tab_routes(self.tabs, self.hub),
        ]
        self.server = self._bind(patterns)
        if self.requested_port and self.server.port != self.requested_port:
            self.moved_from = self.requested_port
        self.server.start()
        self.hub.start(self.server.io_loop)
        log.info("webmon dashboard at %s", self.url)

    def _bind(self, patterns: list[Any]) -> Server:
        """A Bokeh server listening on the requested port; or, when it is taken and
        ``next_free_port`` is on, on one of the next few; or on any free port.

        Bokeh binds the port itself; to restrict websocket origins to the real port when
        asked for any free one (0), it is picked first, and picked again if another process
        takes it before Bokeh binds it.
        """
        requested = self.requested_port
        ports: list[int] = []
        if requested:
            ports.append(requested)
            if self.next_free_port:
                ports += range(requested + 1, min(requested + 1 + NEXT_PORTS_TRIED, 65536))
        free_picks = 5 if not requested or self.next_free_port else 0
        first: PortUnavailable | None = None
        port = requested
        for attempt in range(len(ports) + free_picks):
            try:
                port = ports[attempt] if attempt < len(ports) else _free_port(self.host)
                return self._make_server(port, patterns)
            except OSError as exc:
                unavailable = _unavailable(self.host, requested or port, exc)
                if unavailable is None:
                    raise
                if exc.errno != errno.EADDRINUSE:
                    raise unavailable from None
                first = first or unavailable
        assert first is not None
        raise first

    def _make_server(self, port: int, patterns: list[Any]) -> Server:
        return Server(
            make_applications(self.hub, self.tabs, self.recordings),
            io_loop=self._io_loop,
            address=self.host,
            port=port,
            prefix=self.prefix,
            allow_websocket_origin=websocket_origins(
                self.host, port, self.allow_websocket_origin),
            extra_patterns=patterns,
            use_index=False,
            redirect_root=False,
            # Bokeh copies the request's headers and cookies into the session token it
            # writes into the page; no tab uses them, and behind a proxy they hold its
            # login cookie and secret, which the page must not expose.
            include_headers=[],
            include_cookies=[],
            **({"auth_provider": self.auth_provider} if self.auth_provider else {}),
            **self._session_opts,
        )

    def stop(self) -> None:
        """Stop serving, close recordings in progress, and release the hub's shared memory.
        Call on the IOLoop's thread."""
        if self.recordings is not None:
            self.recordings.close()
        self.hub.stop()
        if self.server is not None:
            self.server.stop(wait=False)
            self.server.unlisten()


def finish_pending_tasks(loop: IOLoop, timeout: float = 1.0) -> None:
    """Give what is still pending on the stopped ``loop`` up to ``timeout`` seconds to end,
    before the loop is closed: Bokeh 3.10 runs a just-closed tab's ``notify_connection_lost``
    as a task (through a worker thread), and closing the loop under it logs "Task was
    destroyed but it is pending!".  Not cancelled: a cancelled websocket task logs an
    uncaught exception instead."""
    aio = loop.asyncio_loop  # type: ignore[attr-defined]
    pending = [task for task in asyncio.all_tasks(aio) if not task.done()]
    if pending:
        aio.run_until_complete(asyncio.wait(pending, timeout=timeout))


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
        finish_pending_tasks(loop)
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
