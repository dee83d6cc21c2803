"""The ``webmon`` command: ``dashboard``, ``demo`` and ``ls`` (and, in ``cli_recording``,
``record``, ``replay`` and ``report``).

    webmon dashboard [--port 8790] [--interval 100ms] [--producer NAME[@PID]] [--prefix PATH]
                     [--show]
    webmon demo [--name demo] [--producer-only] [dashboard options]
    webmon ls [--sample 0.5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import webbrowser
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tornado.ioloop import IOLoop

from webmon.server.serve import (
    DEFAULT_HOST,
    DEFAULT_INTERVAL_S,
    DEFAULT_PORT,
    Dashboard,
    PortUnavailable,
    check_port,
    finish_pending_tasks,
)
from webmon.server.text import format_duration

log = logging.getLogger("webmon")

#: The shortest update period accepted: below it the hub's tick would dominate a core.
MIN_INTERVAL_S = 0.005
#: How long ``webmon demo`` waits for its producer to appear, and to exit after SIGTERM.
PRODUCER_START_TIMEOUT_S = 30.0
PRODUCER_STOP_TIMEOUT_S = 10.0

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)?\s*$")


def parse_interval(text: str) -> float:
    """``"100ms"``, ``"0.1s"`` or a bare number of milliseconds (``"100"``) -> seconds."""
    match = _INTERVAL.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a period: write milliseconds (100, 100ms) or seconds (0.1s)")
    value = float(match.group(1))
    seconds = value if match.group(2) == "s" else value / 1000.0
    if seconds < MIN_INTERVAL_S:
        raise argparse.ArgumentTypeError(
            f"{text!r} is too short: the update period must be at least "
            f"{MIN_INTERVAL_S * 1000:.0f} ms")
    return seconds


def parse_producer(text: str) -> str:
    """``--producer NAME`` or ``NAME@PID``, checked as the dashboard will read it."""
    from webmon.shm import parse_selector

    try:
        return str(parse_selector(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_port(text: str) -> int:
    """A TCP port number, 0 to 65535 (0: any free port)."""
    try:
        return check_port(int(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port: give a number from 0 to 65535 "
            "(0 picks any free port)") from None


def explain_port(error: PortUnavailable) -> str:
    """One line saying why the dashboard cannot listen, and what to do."""
    if error.about_host:
        return f"{error}: give one of this machine's addresses with --host"
    if error.errno == errno.EACCES:
        return f"{error}: give a port above 1023 with --port N (0 picks any free port)"
    return (f"{error}: stop what uses it, or give another port with --port N "
            "(--port 0 picks any free port)")


def _printable(text: Any) -> str:
    """A producer's string, safe to print to a terminal (no control sequences)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


# -- dashboard ---------------------------------------------------------------------------
def add_dashboard_options(parser: argparse.ArgumentParser, *, producer: bool = True,
                          record_dir: bool = True) -> None:
    group = parser.add_argument_group("dashboard")
    group.add_argument("--host", default=DEFAULT_HOST,
                       help=f"address to bind (default: {DEFAULT_HOST}, this machine only)")
    group.add_argument("--port", type=parse_port, default=None, metavar="N",
                       help=f"port to serve on; 0 picks any free one (default: {DEFAULT_PORT}, "
                            "or the next free port after it when it is taken)")
    group.add_argument("--allow-websocket-origin", action="append", metavar="HOST[:PORT]",
                       help="origin allowed to open the dashboard's websockets; repeat for "
                            "several (default: only the served host:port)")
    group.add_argument("--interval", type=parse_interval, default=DEFAULT_INTERVAL_S,
                       metavar="PERIOD",
                       help="update period: milliseconds (100, 100ms) or seconds (0.1s); "
                            f"default {DEFAULT_INTERVAL_S * 1000:.0f}ms")
    group.add_argument("--prefix", default="", metavar="PATH",
                       help="serve under this URL path, as behind a reverse proxy (/dashboard)")
    group.add_argument("--show", action="store_true", help="open the dashboard in a browser")
    if record_dir:
        group.add_argument("--record-dir", default=".", metavar="DIR",
                           help="where the header's Record button writes recordings "
                                "(default: the current directory)")
    if producer:
        group.add_argument("--producer", metavar="NAME[@PID]", type=parse_producer,
                           help="follow only the producers of this name, or with @PID only "
                                "that process (default: every live producer, with a "
                                "selector in the page)")


def build_dashboard(args: argparse.Namespace, producer: str | None) -> Dashboard:
    from webmon.apps import installed_tabs
    from webmon.server.proxy_gate import from_environment

    recordings = None
    if getattr(args, "record_dir", None) is not None:
        from webmon.recording.background import BackgroundRecordings

        recordings = BackgroundRecordings(args.record_dir)
    return Dashboard(
        installed_tabs(), host=args.host, port=DEFAULT_PORT if args.port is None else args.port,
        # Only the default port gives way to the next free one: a port asked for by name
        # is the one the user means to open.
        next_free_port=args.port is None,
        interval=args.interval, producer=producer,
        prefix=args.prefix, allow_websocket_origin=args.allow_websocket_origin,
        # Started by an authenticating proxy (JupyterLab's launcher): only its requests.
        auth_provider=from_environment(), recordings=recordings,
    )


def serve_until_stopped(dashboard: Dashboard, *, show: bool,
                        companion: Callable[[], contextlib.AbstractContextManager[Any]]
                        | None = None) -> None:
    """Bind ``dashboard``, then start ``companion()`` (a context manager whose value has a
    ``poll()``, such as the demo's producer process), print the address, and serve until
    Ctrl-C or SIGTERM, or until the companion's ``poll()`` is not None (checked every
    second).

    Binding comes first: when the port cannot be had, :class:`PortUnavailable` is raised
    and nothing was started.
    """
    asyncio.set_event_loop(asyncio.new_event_loop())
    loop = IOLoop.current()
    try:
        dashboard.start(loop)
    except BaseException:
        loop.close(all_fds=True)
        raise
    try:
        with companion() if companion is not None else contextlib.nullcontext() as partner:
            _serve(dashboard, loop, show=show, partner=partner)
    finally:
        finish_pending_tasks(loop)  # closing tabs, while the server still knows their sessions
        dashboard.stop()
        finish_pending_tasks(loop)  # what stopping scheduled
        loop.close(all_fds=True)
        print("webmon dashboard stopped", flush=True)


def _serve(dashboard: Dashboard, loop: IOLoop, *, show: bool, partner: Any) -> None:
    if dashboard.moved_from is not None:
        print(f"webmon: port {dashboard.moved_from} is in use; serving on port "
              f"{dashboard.port} instead", file=sys.stderr, flush=True)
    print(f"webmon dashboard at {dashboard.url}", flush=True)
    if dashboard.host not in ("127.0.0.1", "localhost", "::1") \
            and not dashboard.allow_websocket_origin:
        print(f"note: serving on {dashboard.host}; browsers may only connect as "
              f"{dashboard.host}:{dashboard.port} (add --allow-websocket-origin=HOST:PORT for "
              "the name they use)", file=sys.stderr, flush=True)
    if show:
        webbrowser.open(dashboard.url)

    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.asyncio_loop.add_signal_handler(sig, loop.stop)
    if partner is not None:
        from tornado.ioloop import PeriodicCallback

        def check() -> None:
            if partner.poll() is not None:
                loop.stop()

        PeriodicCallback(check, 1000).start()
    try:
        loop.start()
    finally:
        for sig in signals:
            loop.asyncio_loop.remove_signal_handler(sig)


def cmd_dashboard(args: argparse.Namespace) -> int:
    serve_until_stopped(build_dashboard(args, args.producer), show=args.show)
    return 0


# -- demo --------------------------------------------------------------------------------
def start_demo_producer(name: str) -> subprocess.Popen:
    """``python -m webmon.demo --name NAME`` as a process of its own (spawned, not forked
    from the dashboard).

    The child holds the read end of a pipe whose write end only this process holds: when
    this process ends, however it ends (SIGKILL included), the kernel closes it, the child
    reads end-of-file and stops, instead of publishing on as an orphan.
    """
    lifeline, keep = os.pipe()  # both ends not inheritable (PEP 446)...
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "webmon.demo", "--name", name,
             "--stop-when-fd-closes", str(lifeline)],
            pass_fds=(lifeline,))  # ...but this one, in this child
    except BaseException:
        os.close(keep)
        raise
    finally:
        os.close(lifeline)
    proc.lifeline = keep  # type: ignore[attr-defined]
    return proc


def wait_for_producer(name: str, proc: subprocess.Popen, timeout: float) -> bool:
    from webmon import discover

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if any(info.name == name and info.pid == proc.pid for info in discover()):
            return True
        time.sleep(0.1)
    return False


def stop_producer(proc: subprocess.Popen) -> None:
    """Ask the demo to stop (SIGTERM: it closes its Publisher, unlinking its segments); kill
    it if it does not, then let ``discover()`` remove whatever a killed process left."""
    from webmon import discover

    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=PRODUCER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("demo producer (pid %d) did not stop; killing it", proc.pid)
            proc.kill()
            proc.wait()
    lifeline = getattr(proc, "lifeline", None)
    if lifeline is not None:
        os.close(lifeline)
        proc.lifeline = None  # type: ignore[attr-defined]
    discover()


@contextlib.contextmanager
def demo_producer(name: str) -> Iterator[subprocess.Popen]:
    proc = start_demo_producer(name)
    try:
        if not wait_for_producer(name, proc, PRODUCER_START_TIMEOUT_S):
            raise SystemExit(f"webmon demo: the demo producer did not start "
                             f"(exit status {proc.poll()})")
        yield proc
    finally:
        stop_producer(proc)


def run_producer_only(name: str) -> int:
    from webmon.demo import run

    print(f"webmon demo: producer {name!r} running (pid {os.getpid()}); "
          "watch it with: webmon dashboard", flush=True)
    run(name)  # stops on Ctrl-C or SIGTERM and closes its Publisher
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if args.producer_only:
        return run_producer_only(args.name)
    # The dashboard binds its port first, so that a port it cannot have starts nothing.
    # Ctrl-C in a terminal reaches both processes; the dashboard's handler stops the
    # server, then the producer is stopped (again) and awaited, in that order.
    started: list[subprocess.Popen] = []
    dashboard = build_dashboard(args, args.name)

    @contextlib.contextmanager
    def producer() -> Iterator[subprocess.Popen]:
        with demo_producer(args.name) as proc:
            # Its own child by pid: another live producer of the same name is not this
            # demo.  The hub has not ticked yet: it ticks once the server's loop runs.
            dashboard.hub.follow_only(f"{args.name}@{proc.pid}")
            started.append(proc)
            yield proc

    serve_until_stopped(dashboard, show=args.show, companion=producer)
    if started and started[0].returncode not in (None, 0, -signal.SIGTERM, -signal.SIGINT):
        print(f"webmon demo: the demo producer exited with status {started[0].returncode}",
              file=sys.stderr)
    return 0


# -- ls ----------------------------------------------------------------------------------
def sample_producers(sample_s: float) -> list[dict[str, Any]]:
    """Every live producer, with each stream's rate measured over ``sample_s`` seconds (or
    averaged since the producer started, when ``sample_s`` is 0)."""
    from webmon import Subscriber, WebmonError, discover

    subscribers: list[tuple[Any, Any]] = []
    for info in discover():  # also removes what dead producers left behind
        try:
            subscribers.append((info, Subscriber(info)))
        except WebmonError:
            continue  # exited between listing and attaching
    try:
        # By channel: two producers of one process share a pid, and may share a name.
        first = {info.token: _written(sub) for info, sub in subscribers}
        t0 = time.monotonic()
        if sample_s > 0 and subscribers:
            time.sleep(sample_s)
        elapsed = time.monotonic() - t0
        rows = []
        for info, sub in subscribers:
            second = _written(sub)
            streams = {}
            for stream, count in sorted(second.items()):
                if sample_s > 0:
                    rate = (count - first[info.token].get(stream, count)) / elapsed
                else:
                    rate = count / max(info.uptime, 1e-9)
                streams[stream] = {"written": count, "rate": rate}
            rows.append({
                "name": info.name, "pid": info.pid, "selector": str(info.key), "app": info.app,
                "uptime_s": info.uptime,
                "heartbeat_age_s": max(0.0, time.time() - sub.heartbeat),
                "streams": streams, "state": list(info.state), "arrays": list(info.arrays),
                "commands": list(info.commands),
            })
        return rows
    finally:
        for _, sub in subscribers:
            sub.close()


def _written(sub: Any) -> dict[str, int]:
    counts = {}
    for stream in sub.streams():
        try:
            counts[stream] = sub.written(stream)
        except Exception:  # the producer went away mid-listing
            continue
    return counts


def format_producers(rows: Sequence[dict[str, Any]], sample_s: float) -> str:
    if not rows:
        return "no live producers"
    rate_note = f"over {sample_s:g} s" if sample_s > 0 else "since start"
    namesakes = Counter(row["name"] for row in rows)
    lines = []
    for row in rows:
        shared = namesakes[row["name"]]
        note = (f"  ({shared} live producers are named {_printable(row['name'])!r}: choose "
                f"with NAME@PID)" if shared > 1 else "")
        lines.append(f"{_printable(row['name'])}  pid {row['pid']}  {_printable(row['app'])}  "
                     f"up {format_duration(row['uptime_s'])}  "
                     f"heartbeat {format_duration(row['heartbeat_age_s'])} ago{note}")
        width = max((len(_printable(s)) for s in row["streams"]), default=0)
        for stream, info in row["streams"].items():
            lines.append(f"  {_printable(stream):<{width}}  {info['written']:>12,} records  "
                         f"{info['rate']:>10,.1f}/s ({rate_note})")
        for group in ("state", "arrays", "commands"):
            if row[group]:
                lines.append(f"  {group}: {', '.join(_printable(x) for x in row[group])}")
    return "\n".join(lines)


def cmd_ls(args: argparse.Namespace) -> int:
    rows = sample_producers(args.sample)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_producers(rows, args.sample))
    return 0


# -- entry point -------------------------------------------------------------------------
def version_text() -> str:
    """``webmon 0.1.0 (bokeh 3.10.1, Python 3.12.1)``: what a bug report needs.  Bokeh's
    version is read from its installed metadata, so asking does not import it."""
    from importlib.metadata import PackageNotFoundError, version

    from webmon.version import __version__

    try:
        bokeh = version("bokeh")
    except PackageNotFoundError:
        bokeh = "not installed"
    python = ".".join(map(str, sys.version_info[:3]))
    return f"webmon {__version__} (bokeh {bokeh}, Python {python})"


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webmon", description="Live monitoring dashboard for napari and any Python "
                                   "application, fed through shared memory.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--version", action="version", version=version_text(),
                        help="print the versions of webmon, Bokeh and Python, and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dashboard = commands.add_parser("dashboard", help="serve the dashboard",
                                    description="Serve the dashboard until Ctrl-C or SIGTERM.")
    add_dashboard_options(dashboard)
    dashboard.set_defaults(run=cmd_dashboard)

    demo = commands.add_parser(
        "demo", help="run the demo producer and a dashboard showing it",
        description="Run the demo producer in its own process and a dashboard following it; "
                    "Ctrl-C or SIGTERM stops both.")
    demo.add_argument("--name", default="demo", help="the demo producer's name (default: demo)")
    demo.add_argument("--producer-only", action="store_true",
                      help="run only the producer (watch it with a separate webmon dashboard)")
    add_dashboard_options(demo, producer=False)
    demo.set_defaults(run=cmd_demo)

    ls = commands.add_parser("ls", help="list live producers",
                             description="List live producers with their streams, rates and "
                                         "ages; removes what dead producers left behind.")
    ls.add_argument("--sample", type=float, default=0.5, metavar="SECONDS",
                    help="measure rates over this long (default 0.5; 0: average since start)")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(run=cmd_ls)

    from webmon.cli_recording import add_parsers  # record, replay, report

    add_parsers(commands)
    return parser


def parse_args(parser: argparse.ArgumentParser,
               argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, except that an unknown option after a command is
    reported with that command's usage (``webmon demo --bogus`` shows how to call ``demo``;
    argparse alone would print the top-level usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command = _subparsers(parser).get(args.command)
        where = argv.index(args.command) if args.command in argv else len(argv)
        if command is not None and argv.index(unknown[0]) > where:
            command.error(f"unrecognized arguments: {' '.join(unknown)}")
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps its subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(make_parser(), argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        return args.run(args)
    except PortUnavailable as error:
        print(f"webmon {args.command}: {explain_port(error)}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "make_parser", "parse_interval", "version_text"]
