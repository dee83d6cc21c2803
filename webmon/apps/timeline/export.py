"""``timeline/trace.json?producer=NAME[@PID]&seconds=S``: a producer's spans of the last
``seconds`` as a Chrome trace (``webmon.chrome_trace``), for Perfetto's UI, chrome://tracing
or speedscope.

The spans come from the hub's history (what the dashboard holds; say so in ``otherData``
when the history is shorter than asked), the names from the producer's ``span_table``.
The conversion runs in a worker thread: a trace of a million spans takes seconds, and the
dashboard's other pages must not wait for it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import numpy as np
from bokeh.server.views.auth_request_handler import AuthRequestHandler
from tornado.ioloop import IOLoop

from webmon.chrome_trace import chrome_trace
from webmon.schema import SPAN_DTYPE, SPAN_TABLE, SPANS
from webmon.server import Hub
from webmon.shm import WebmonError, parse_selector, select_producer
from webmon.span_table import SpanTable, SpanTableError

#: The longest window a trace covers, as the timeline's longest.
MAX_SECONDS = 300.0
DEFAULT_SECONDS = 10.0


class TraceRequestError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_seconds(values: list[bytes] | None) -> float:
    """The ``seconds`` argument: a number above 0 and at most ``MAX_SECONDS``."""
    if not values:
        return DEFAULT_SECONDS
    text = values[0].decode("utf-8", "replace").strip()
    try:
        seconds = float(text)
    except ValueError:
        raise TraceRequestError(400, f"seconds must be a number, got {text[:40]!r}") from None
    if not 0 < seconds <= MAX_SECONDS:  # also refuses nan
        raise TraceRequestError(400, f"seconds must be above 0 and at most {MAX_SECONDS:g}, "
                                     f"got {text[:40]!r}")
    return seconds


def choose_feed(hub: Hub, values: list[bytes] | None) -> Any:
    """The feed ``producer`` names (``NAME`` or ``NAME@PID``, live or gone), else the hub's
    default producer."""
    feeds = hub.feeds()
    if not values or not values[0]:
        feed = hub.default_feed()
        if feed is None:
            raise TraceRequestError(404, "no producer is running")
        return feed
    text = values[0].decode("utf-8", "replace")
    try:
        selector = parse_selector(text)
    except ValueError as exc:
        raise TraceRequestError(400, str(exc)) from None
    # The newest of each name and pid: a restarted producer's older feeds are listed too.
    try:
        return select_producer(feeds, selector)
    except WebmonError as exc:
        if selector.pid is None:
            named = [f for f in feeds if f.name == selector.name]
            if named:
                return max(named, key=lambda f: (f.alive, f.started))
        raise TraceRequestError(404, str(exc)) from None


def window_records(history: Any, seconds: float) -> np.ndarray:
    """The spans that ended in the last ``seconds`` before the newest one held."""
    if history is None or history.total == 0:
        return np.zeros(0, SPAN_DTYPE)
    records = history.since(history.oldest)[0]
    finite = np.isfinite(records["end"])
    if not finite.any():
        return records[:0]
    newest = float(records["end"][finite].max())
    return records[finite & (records["end"] >= newest - seconds)]


def trace_for(feed: Any, records: np.ndarray, table: SpanTable, seconds: float,
              history_total: int, history_capacity: int) -> dict[str, Any]:
    other = {"producer": feed.name, "pid": feed.pid, "app": feed.app, "seconds": seconds,
             "exported": time.time(), "spans": int(len(records))}
    if not len(records):
        other["note"] = ("no spans held: a producer records spans only while someone watches "
                         "them (the Timeline tab, or this export, asked for them just now)")
    elif history_total > history_capacity:
        held = float(records["end"].max() - records["start"].min())
        if held < seconds:
            other["note"] = (f"the dashboard holds the last {history_capacity:,} spans, "
                             f"{held:.1f} s of the {seconds:g} s asked")
    return chrome_trace(records, table, pid=feed.pid,
                        process_name=f"{feed.name} (pid {feed.pid})", other_data=other)


def filename(feed: Any) -> str:
    safe = re.sub(r"[^\w.-]+", "_", feed.name)[:64] or "producer"
    return f"webmon-{safe}-{feed.pid}-{time.strftime('%Y%m%d-%H%M%S')}.trace.json"


class TraceHandler(AuthRequestHandler):
    """GET: the trace as JSON, downloaded as a file; errors as ``{"error": message}``."""

    def initialize(self, hub: Hub) -> None:
        self.hub = hub

    async def get(self) -> None:
        try:
            seconds = parse_seconds(self.request.arguments.get("seconds"))
            feed = choose_feed(self.hub, self.request.arguments.get("producer"))
            table = await self._table(feed)
        except TraceRequestError as exc:
            self._error(exc.status, str(exc))
            return
        history = feed.history(SPANS)
        records = window_records(history, seconds)
        total = history.total if history is not None else 0
        capacity = history.capacity if history is not None else 0
        loop = IOLoop.current()
        body = await loop.run_in_executor(
            None, lambda: json.dumps(trace_for(feed, records, table, seconds, total,
                                               capacity), separators=(",", ":")))
        self.set_header("Content-Type", "application/json")
        self.set_header("Content-Disposition", f'attachment; filename="{filename(feed)}"')
        self.set_header("Cache-Control", "no-store")
        self.write(body)

    async def _table(self, feed: Any) -> SpanTable:
        value, version = feed.state(SPAN_TABLE)
        if version == 0 and feed.alive:
            # Asking registers interest: the hub reads the key from its next tick on.
            for _ in range(10):
                await asyncio.sleep(self.hub.interval)
                value, version = feed.state(SPAN_TABLE)
                if version:
                    break
        try:
            return SpanTable.parse(value)
        except SpanTableError as exc:
            raise TraceRequestError(502, f"producer {feed.name!r} (pid {feed.pid}) published "
                                         f"a malformed span table: {exc}") from None

    def _error(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"error": message}))
