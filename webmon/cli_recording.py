"""``webmon record``, ``webmon replay`` and ``webmon report``: the command line of recordings.

    webmon record [--producer NAME|NAME@PID] [-o PATH] [--duration SECONDS] [--quiet]
    webmon replay PATH [--speed X] [--port N] [dashboard options]
    webmon report PATH -o report.html [--trace out.json]

Every failure is one line on stderr starting with ``webmon <command>:``, and exit status 1;
what was recorded before it is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Without a terminal, progress is printed as a new line this often (a terminal gets one
#: line rewritten every second).
LOG_PROGRESS_S = 5.0


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return value


def _fail(command: str, message: Any) -> int:
    text = " ".join(str(message).split())  # one line, whatever the message held
    print(f"webmon {command}: {text}", file=sys.stderr, flush=True)
    return 1


# -- record ------------------------------------------------------------------------------
class _ProgressPrinter:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stdout.isatty()
        self._last = -float("inf")

    def __call__(self, progress: Any) -> None:
        if self.quiet or progress.status != "recording":
            return
        if self.tty:
            print("\r" + progress.line(), end="", flush=True)
        elif time.monotonic() - self._last >= LOG_PROGRESS_S:
            self._last = time.monotonic()
            print(progress.line(), flush=True)


def cmd_record(args: argparse.Namespace) -> int:
    from webmon.recording import Recorder, RecordingError
    from webmon.shm import WebmonError

    printer = _ProgressPrinter(args.quiet)
    recorder = Recorder(args.output, args.producer, duration=args.duration,
                        on_progress=printer)
    try:
        recorder.open()
    except (RecordingError, WebmonError, ValueError) as exc:
        return _fail("record", exc)
    producer = recorder.producer
    if not args.quiet:
        until = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
        print(f"recording {producer.name}@{producer.pid} ({producer.app}) into "
              f"{recorder.path} {until}", flush=True)
    previous = {sig: signal.signal(sig, lambda *_: recorder.request_stop())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        progress = recorder.run()
    except RecordingError as exc:
        if printer.tty:
            print(flush=True)
        return _fail("record", f"{exc}; kept what was recorded before, in {recorder.path}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if printer.tty and not args.quiet:
        print(flush=True)
    summary = (f"{progress.elapsed:.1f} s, {progress.records:,} records, "
               f"{progress.state_changes:,} state changes, {progress.bytes / 1e6:.2f} MB, "
               f"{progress.lost:,} lost")
    if progress.status == "producer-gone":
        print(f"webmon record: {progress.reason}; the recording is closed with everything "
              f"up to then: {recorder.path} ({summary})", file=sys.stderr, flush=True)
    elif not args.quiet:
        print(f"saved {recorder.path} ({summary})", flush=True)
    return 0


def add_record_parser(commands: Any) -> None:
    record = commands.add_parser(
        "record", help="record a live producer into a directory",
        description="Record every stream, state change and shared array of one live producer "
                    "until Ctrl-C, SIGTERM, --duration or the producer's end.  The recording "
                    "is a directory of Parquet, JSON Lines and .npy files "
                    "(docs/recording.md).")
    record.add_argument("--producer", metavar="NAME|NAME@PID",
                        help="the producer to record (default: the only live one)")
    record.add_argument("-o", "--output", metavar="PATH",
                        help="the recording's directory, which must not exist or be empty "
                             "(default: webmon-<producer>-<date>-<time> here)")
    record.add_argument("--duration", type=positive_seconds, metavar="SECONDS",
                        help="stop after this many seconds")
    record.add_argument("--quiet", action="store_true", help="print only errors")
    record.set_defaults(run=cmd_record)


# -- replay ------------------------------------------------------------------------------
def _speed(text: str) -> float:
    from webmon.recording.replay import check_speed

    try:
        return check_speed(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _free_name(name: str) -> str:
    """``name``, or ``name-2``, ``name-3``... when a live producer already has it (another
    replay of the same recording)."""
    from webmon.shm import discover

    live = {info.name for info in discover()}
    candidate, n = name, 1
    while candidate in live:
        n += 1
        candidate = f"{name[:60]}-{n}"
    return candidate


@contextlib.contextmanager
def replay_producer(path: Path, name: str, speed: float) -> Iterator[subprocess.Popen]:
    """The replay's producer as a process of its own (its GIL is not the dashboard's), until
    the block ends."""
    from webmon.cli import PRODUCER_START_TIMEOUT_S, stop_producer, wait_for_producer

    proc = subprocess.Popen([sys.executable, "-m", "webmon.recording.replay", str(path),
                             "--name", name, "--speed", repr(speed), "--stop-on-stdin-eof"],
                            stdin=subprocess.PIPE)
    try:
        if not wait_for_producer(name, proc, PRODUCER_START_TIMEOUT_S):
            raise SystemExit(f"webmon replay: the replay did not start "
                             f"(exit status {proc.poll()})")
        yield proc
    finally:
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        stop_producer(proc)


def cmd_replay(args: argparse.Namespace) -> int:
    from webmon.cli import build_dashboard, serve_until_stopped
    from webmon.recording import RecordingError, load
    from webmon.recording.replay import replay_name

    try:
        recording = load(args.path)
    except RecordingError as exc:
        return _fail("replay", exc)
    for stream in recording.streams:
        recording.parts(stream)  # so that damaged parts are known, and said, now
    for problem in recording.problems:
        print(f"webmon replay: note: {problem}", file=sys.stderr, flush=True)
    name = _free_name(replay_name(recording.path))
    producer = recording.producer
    print(f"replaying {recording.path} ({producer.get('name')}@{producer.get('pid')}, "
          f"{recording.duration:.1f} s) as producer {name!r} at {args.speed:g}x", flush=True)
    # The dashboard binds its port first: a port it cannot have starts no replay.
    serve_until_stopped(build_dashboard(args, name), show=args.show,
                        companion=lambda: replay_producer(recording.path, name, args.speed))
    return 0


def add_replay_parser(commands: Any) -> None:
    from webmon.cli import add_dashboard_options

    replay = commands.add_parser(
        "replay", help="serve the dashboard on a recording",
        description="Publish a recording as a producer named after it and serve the full "
                    "dashboard on it, with play, pause, speed and a seek bar in the header. "
                    "Commands to the recorded producer are refused.")
    replay.add_argument("path", metavar="PATH", help="a recording's directory")
    replay.add_argument("--speed", type=_speed, default=1.0, metavar="X",
                        help="replay speed, from 0.25 to 10 (default 1)")
    add_dashboard_options(replay, producer=False, record_dir=False)
    replay.set_defaults(run=cmd_replay)


# -- report ------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    from webmon.recording import RecordingError, load
    from webmon.report import write_report
    from webmon.report.spans import write_trace

    try:
        recording = load(args.path)
        size = write_report(recording, args.output)
    except RecordingError as exc:
        return _fail("report", exc)
    for problem in recording.problems:  # also said in the report itself
        print(f"webmon report: note: {problem}", file=sys.stderr, flush=True)
    print(f"wrote {args.output} ({size / 1e6:.1f} MB)", flush=True)
    if args.trace is not None:
        try:
            events = write_trace(recording, args.trace)
        except RecordingError as exc:
            return _fail("report", exc)
        print(f"wrote {args.trace} ({events:,} trace events: open it in Perfetto's UI, "
              "chrome://tracing or speedscope)", flush=True)
    return 0


def add_report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="write a recording as one self-contained HTML file",
        description="Write one HTML file that opens with no network: a summary, the loader's "
                    "charts over the whole recording, the per-level table, the worst stalls "
                    "and a per-level tile heat map.")
    report.add_argument("path", metavar="PATH", help="a recording's directory")
    report.add_argument("-o", "--output", metavar="FILE", default="report.html",
                        help="the HTML file to write (default: report.html)")
    report.add_argument("--trace", metavar="FILE",
                        help="also write the recording's spans as Chrome trace events (JSON)")
    report.set_defaults(run=cmd_report)


def add_parsers(commands: Any) -> None:
    """Add ``record``, ``replay`` and ``report`` to the ``webmon`` command's subcommands."""
    add_record_parser(commands)
    add_replay_parser(commands)
    add_report_parser(commands)
