"""Server CPU per session per tick: one shared hub against one hub per session.

    python benchmarks/bench_sessions.py [--sessions 1,8,32] [--hz 30] [--seconds 10]

A producer process publishes chunk loads (1,000 per second) and frame times (60 per second).
The dashboard's Bokeh server runs in this process; a client process opens N websocket
sessions of the loader tab, or of ``--tab`` (each pulls its document, as a browser does, then
its frames are received and dropped unparsed, so the client costs little and never holds
the server back).  The server's CPU time (this process,
``time.process_time``) is measured over ``--seconds`` for each N, in two designs side by side:

* shared: one hub for the server reads shared memory once per tick and every session
  streams its increment (webmon's design);
* per-session: every session has a hub of its own, i.e. its own Subscriber reading shared
  memory every tick (the baseline: what "each tab reads the rings" would cost);
* shared, a message per change: webmon's design with ``webmon.server.batching`` switched
  off, so that Bokeh sends each change of an update as its own websocket message (what
  webmon did before batching; ``--no-unbatched`` leaves it out).

All tick at ``--hz``.  Printed: CPU per tick (CPU time over the wall time's number of
ticks at ``--hz``, so a server that falls behind does not look cheaper), per session per
tick, the marginal cost of a session ((cost at N) - (cost at 1)) / (N - 1), the ratio of the
designs, and the tick and update rates actually reached; and the CPU per round (every
session updated once, hub ticks included), whose marginal cost is the robust figure when a
loaded machine updates sessions less often than ``--hz``.  ``--alternate N`` instead
switches between batching variants every 3 s in one server with N sessions.  The target
for webmon's design is a marginal cost of at most 0.5 ms of CPU per session per tick.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bokeh.application import Application  # noqa: E402
from bokeh.application.handlers import FunctionHandler  # noqa: E402
from bokeh.document import Document  # noqa: E402
from bokeh.server.server import Server  # noqa: E402
from helpers import child_env, producer, wait_until  # noqa: E402
from tornado.ioloop import IOLoop  # noqa: E402

from webmon.apps import TABS  # noqa: E402
from webmon.server import Hub, Session, Tab, batching  # noqa: E402
from webmon.server.app import build_tab_document  # noqa: E402

PRODUCER = "bench"


class OneNumber:
    """The least a tab can stream: one float per tick (the hub's tick time), one column."""

    def __init__(self, session: Session) -> None:
        import numpy as np
        from bokeh.models import ColumnDataSource
        from bokeh.plotting import figure

        self.np = np
        self.session = session
        self.position = session.hub.ticks.total
        self.source = ColumnDataSource({"tick_ms": np.zeros(0, "f4")}, name="floor")
        self.root = figure(height=100, width=100, toolbar_location=None)
        self.root.line(x="tick_ms", y="tick_ms", source=self.source)

    def update(self) -> None:
        records, self.position = self.session.hub.ticks.since(self.position)
        if len(records):
            self.source.stream({"tick_ms": self.np.ascontiguousarray(records["tick_ms"])},
                               rollover=1000)


#: ``--tab floor``: what Bokeh itself costs per session per tick, for comparison.
FLOOR = Tab(name="floor", title="Floor", build=lambda session: session.add(OneNumber(session)).root)


# -- the client process: N bare Bokeh websocket sessions ---------------------------------
def _masked_text_frame(text: str) -> bytes:
    """One client-to-server websocket text frame (clients must mask, RFC 6455)."""
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body


def open_session(host: str, port: int, path: str) -> socket.socket:
    """Open a Bokeh session's websocket and pull its document, as a browser does (until a
    document is pulled the server treats every model as new and scans them all for each
    message it sends).  Frames are then read by the kernel and dropped unparsed, so this
    process costs little and never holds the server back."""
    import base64

    from bokeh.util.token import generate_jwt_token, generate_session_id

    token = generate_jwt_token(generate_session_id())
    sock = socket.create_connection((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: bokeh, {token}\r\n"
                  "\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the websocket handshake")
        response += chunk
    if not response.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(response.split(b"\r\n", 1)[0].decode())
    time.sleep(0.5)  # the server sends its ACK once the session exists; then it reads
    for text in ('{"msgid": "1", "msgtype": "PULL-DOC-REQ"}', "{}", "{}"):
        sock.sendall(_masked_text_frame(text))
    return sock


def client_main(url: str, count: int) -> None:
    parts = urllib.parse.urlsplit(url)
    sockets = [open_session(parts.hostname, parts.port, parts.path) for _ in range(count)]
    selector = selectors.DefaultSelector()
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if not key.fileobj.recv(1 << 20):
                return


# -- the server, in this process ---------------------------------------------------------
class BenchServer:
    """A Bokeh server with the benchmarked tab at ``/tab``, in a thread of this process."""

    def __init__(self, make_doc: Callable[[Document], None]) -> None:
        self.make_doc = make_doc
        self.ready = threading.Event()
        self.loop: IOLoop | None = None
        self.server: Server | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        self.loop = IOLoop.current()
        self.server = Server({"/tab": Application(FunctionHandler(self.make_doc))},
                             io_loop=self.loop, port=0, address="127.0.0.1",
                             unused_session_lifetime_milliseconds=1000,
                             check_unused_sessions_milliseconds=500)
        self.server.start()
        self.ready.set()
        self.loop.start()

    def call(self, fn: Callable[[], Any]) -> Any:
        done = threading.Event()
        out: dict[str, Any] = {}

        def run() -> None:
            try:
                out["value"] = fn()
            except BaseException as exc:
                out["error"] = exc
            finally:
                done.set()

        assert self.loop is not None
        self.loop.add_callback(run)
        if not done.wait(60):
            raise TimeoutError("the server's loop did not answer within 60 s")
        if "error" in out:
            raise out["error"]
        return out["value"]

    def stop(self) -> None:
        assert self.loop is not None and self.server is not None

        def shutdown() -> None:
            self.server.stop(wait=False)
            self.server.unlisten()
            self.loop.stop()

        self.loop.add_callback(shutdown)
        self.thread.join(10)

    @property
    def ws_url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.port}/tab/ws"


class SharedDesign:
    """One hub for every session."""

    name = "shared"

    def __init__(self, interval: float, tab: Tab,
                 settings: batching.Batching = batching.DEFAULT) -> None:
        self.interval = interval
        self.tab = tab
        self.hub = Hub(interval=interval, producer=PRODUCER, batching=settings)
        self.open: list[Session] = []
        self.server = BenchServer(self.make_doc)
        self.server.call(lambda: self.hub.start(IOLoop.current()))

    def make_doc(self, doc: Document) -> None:
        session = build_tab_document(self.hub, TABS, self.tab, doc)
        self.open.append(session)
        doc.on_session_destroyed(lambda _ctx: session.close())

    def sessions(self) -> int:
        return self.hub.session_count

    def updates(self) -> int:
        return sum(s.updates for s in self.open)

    def ticks(self) -> int:
        return self.hub.stats.count

    def stop(self) -> None:
        self.server.call(self.hub.stop)
        self.server.stop()


class UnbatchedDesign(SharedDesign):
    """One hub for every session; each change sent as its own message, as Bokeh does."""

    name = "unbatched"

    def __init__(self, interval: float, tab: Tab) -> None:
        super().__init__(interval, tab, batching.Batching(enabled=False))


class PerSessionDesign:
    """A hub (a Subscriber reading shared memory every tick) for each session."""

    name = "per-session"

    def __init__(self, interval: float, tab: Tab) -> None:
        self.interval = interval
        self.tab = tab
        self.hubs: list[Hub] = []
        self.open: list[Session] = []
        self.server = BenchServer(self.make_doc)

    def make_doc(self, doc: Document) -> None:
        hub = Hub(interval=self.interval, producer=PRODUCER)
        hub.start(IOLoop.current())
        self.hubs.append(hub)
        session = build_tab_document(hub, TABS, self.tab, doc)
        self.open.append(session)

        def destroyed(_ctx: Any) -> None:
            session.close()
            hub.stop()
            self.hubs.remove(hub)

        doc.on_session_destroyed(destroyed)

    def sessions(self) -> int:
        return sum(hub.session_count for hub in list(self.hubs))

    def updates(self) -> int:
        return sum(s.updates for s in self.open)

    def ticks(self) -> int:
        # Per-session hubs tick in step; count the ticks of one of them as "the tick".
        hubs = list(self.hubs)
        return hubs[0].stats.count if hubs else 0

    def stop(self) -> None:
        self.server.call(lambda: [hub.stop() for hub in list(self.hubs)])
        self.server.stop()


@contextlib.contextmanager
def connected_clients(design: Any, count: int) -> Iterator[None]:
    """A client process holding ``count`` sessions open on ``design``'s server, all
    connected, for the duration of the block."""
    client = subprocess.Popen(
        [sys.executable, __file__, "--client", design.server.ws_url, str(count)],
        env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: design.server.call(design.sessions) == count, timeout=60,
                   message=f"{count} sessions connected")
        yield
    finally:
        client.terminate()
        client.wait()


def measure(design: Any, count: int, seconds: float, warmup: float) -> dict[str, float]:
    with connected_clients(design, count):
        time.sleep(warmup)
        ticks0, updates0 = design.server.call(lambda: (design.ticks(), design.updates()))
        cpu0, wall0 = time.process_time(), time.monotonic()
        time.sleep(seconds)
        cpu1, wall1 = time.process_time(), time.monotonic()
        ticks1, updates1 = design.server.call(lambda: (design.ticks(), design.updates()))
    wall = wall1 - wall0
    nominal_ticks = wall / design.interval
    cpu_ms = (cpu1 - cpu0) * 1000.0
    # Per *nominal* tick: a server that falls behind and skips ticks must not look cheaper.
    return {"sessions": count, "wall_s": wall, "cpu_ms": cpu_ms,
            "tick_hz": (ticks1 - ticks0) / wall,
            "update_hz": (updates1 - updates0) / wall / count,
            "cpu_ms_per_tick": cpu_ms / nominal_ticks,
            "cpu_ms_per_session_tick": cpu_ms / nominal_ticks / count,
            "cpu_ms_per_update": cpu_ms / max(updates1 - updates0, 1),
            # CPU for every session to be updated once (hub ticks included): unlike the
            # nominal tick, not flattered when a loaded machine updates sessions less often.
            "cpu_ms_per_round": cpu_ms / max((updates1 - updates0) / count, 1e-9),
            "cpu_share": (cpu1 - cpu0) / wall}


def run_design(cls: Any, tab: Tab, counts: list[int], hz: float, seconds: float,
               warmup: float) -> list[dict[str, float]]:
    results = []
    for count in counts:
        design = cls(1.0 / hz, tab)
        try:
            time.sleep(1.0)  # the hub attaches and reads the backlog
            results.append(measure(design, count, seconds, warmup))
        finally:
            design.stop()
        row = results[-1]
        print(f"  {cls.name:<12} {count:>3} sessions: {row['cpu_ms_per_tick']:7.2f} ms CPU/tick"
              f"  {row['cpu_ms_per_session_tick']:6.3f} ms/session/tick"
              f"  {100 * row['cpu_share']:3.0f}% of a core;  hub {row['tick_hz']:4.1f} Hz,"
              f" each session updated {row['update_hz']:4.1f} Hz,"
              f" {row['cpu_ms_per_update']:5.2f} ms CPU per session update,"
              f" {row['cpu_ms_per_round']:6.2f} ms per round", flush=True)
    return results


def marginal(rows: list[dict[str, float]],
             key: str = "cpu_ms_per_tick") -> list[tuple[int, float]]:
    base = rows[0]
    return [(row["sessions"], (row[key] - base[key]) / (row["sessions"] - base["sessions"]))
            for row in rows[1:]]


#: ``--alternate``: variants of the shared design switched in one running server.
VARIANTS = {
    "one message per update": batching.Batching(),
    "arrays as binary frames": batching.Batching(inline_arrays=False),
    "a message per change": batching.Batching(enabled=False),
}


def alternate_rounds(design: Any, count: int, seconds: float, repeats: int,
                     rounds: dict[str, list[float]]) -> None:
    """``repeats`` times each of VARIANTS for ``seconds``: CPU per round into ``rounds``."""
    for _ in range(repeats):
        for name, settings in VARIANTS.items():
            design.server.call(lambda s=settings: setattr(design.hub, "batching", s))
            time.sleep(0.5)
            updates0, cpu0 = design.server.call(design.updates), time.process_time()
            time.sleep(seconds)
            cpu1, updates1 = time.process_time(), design.server.call(design.updates)
            rounds[name].append((cpu1 - cpu0) * 1000.0 / max((updates1 - updates0) / count,
                                                             1e-9))


def alternate(tab: Tab, count: int, hz: float, seconds: float, repeats: int) -> None:
    """Switch between VARIANTS every ``seconds`` in one server with ``count`` sessions, so
    that a machine whose load drifts treats them alike; CPU per round of updates."""
    import statistics

    design = SharedDesign(1.0 / hz, tab)
    rounds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    try:
        with connected_clients(design, count):
            time.sleep(2.0)
            alternate_rounds(design, count, seconds, repeats, rounds)
    finally:
        design.stop()
    base = statistics.median(rounds["one message per update"])
    print(f"\nCPU per round (every one of {count} sessions updated once), medians of "
          f"{repeats} runs of {seconds:g} s alternated:")
    for name, values in rounds.items():
        median = statistics.median(values)
        print(f"  {name:<26} {median:7.2f} ms  ({median / count:5.3f} ms per session)"
              f"  x{median / base:4.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="1,8,32")
    parser.add_argument("--hz", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rate", default="1000", help="chunk loads per second")
    parser.add_argument("--tab", default="loader",
                        choices=[tab.name for tab in (*TABS, FLOOR)],
                        help="the tab each session shows; 'floor' streams one number per tick")
    parser.add_argument("--no-unbatched", action="store_true",
                        help="leave out the shared hub sending a message per change")
    parser.add_argument("--alternate", type=int, metavar="N",
                        help="instead: N sessions, the batching variants alternated")
    parser.add_argument("--client", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args.client[0], int(args.client[1]))
        return

    tab = next(tab for tab in (*TABS, FLOOR) if tab.name == args.tab)
    counts = [int(n) for n in args.sessions.split(",")]
    runtime = tempfile.mkdtemp(prefix="webmon-bench-")
    os.chmod(runtime, 0o700)
    os.environ["WEBMON_RUNTIME_DIR"] = runtime
    print(f"bench_sessions: {args.tab} tab, {args.hz:g} Hz, {args.rate} chunk loads/s, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    if args.alternate:
        with producer("schema", PRODUCER, "--rate", args.rate, "--fps", "60"):
            alternate(tab, args.alternate, args.hz, 3.0, 5)
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    with producer("schema", PRODUCER, "--rate", args.rate, "--fps", "60"):
        shared = run_design(SharedDesign, tab, counts, args.hz, args.seconds, args.warmup)
        baseline = run_design(PerSessionDesign, tab, counts, args.hz, args.seconds, args.warmup)
        unbatched = (None if args.no_unbatched else
                     run_design(UnbatchedDesign, tab, counts, args.hz, args.seconds, args.warmup))

    print("\nCPU per tick (ms), shared hub vs a hub per session:")
    print(f"  {'sessions':>8}  {'shared':>8}  {'per-session':>11}  {'ratio':>6}")
    for a, b in zip(shared, baseline, strict=True):
        print(f"  {a['sessions']:>8}  {a['cpu_ms_per_tick']:8.2f}  {b['cpu_ms_per_tick']:11.2f}"
              f"  {b['cpu_ms_per_tick'] / a['cpu_ms_per_tick']:6.2f}")
    if unbatched is not None:
        print("\nCPU per tick (ms), shared hub: one message per update vs one per change:")
        for a, b in zip(shared, unbatched, strict=True):
            print(f"  {a['sessions']:>8}  {a['cpu_ms_per_tick']:8.2f}  {b['cpu_ms_per_tick']:11.2f}"
                  f"  {b['cpu_ms_per_tick'] / a['cpu_ms_per_tick']:6.2f}")
    if len(counts) > 1:
        print("\nMarginal CPU of one more session, per tick (ms); target <= 0.5 for shared:")
        for (n, a), (_, b) in zip(marginal(shared), marginal(baseline), strict=True):
            print(f"  1 -> {n:>2} sessions: shared {a:6.3f}  per-session {b:6.3f}"
                  f"  ratio {b / a if a > 0 else float('nan'):5.2f}")
        if unbatched is not None:
            for (n, a), (_, b) in zip(marginal(shared), marginal(unbatched), strict=True):
                print(f"  1 -> {n:>2} sessions: shared {a:6.3f}  shared, a message per change"
                      f" {b:6.3f}  ratio {b / a if a > 0 else float('nan'):5.2f}")
        print("\nMarginal CPU of one more session per round (every session updated once; "
              "robust when a loaded machine updates sessions below --hz):")
        designs = [("shared", shared), ("per-session", baseline)]
        if unbatched is not None:
            designs.append(("shared, a message per change", unbatched))
        for name, rows in designs:
            steps = "  ".join(f"1 -> {n}: {m:6.3f}" for n, m in marginal(rows, "cpu_ms_per_round"))
            print(f"  {name:<30} {steps}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
