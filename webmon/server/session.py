"""One browser tab's view of the hub: its chosen producer, its cursors, its components.

After each hub tick the session schedules one callback on the IOLoop, under the document's
lock (as ``doc.add_next_tick_callback`` would).  It runs every component's ``update()``
inside ``doc.hold("combine")`` and sends what changed as one websocket message per tab
(:mod:`.batching`; Bokeh alone would send one per change).  When Bokeh destroys the session
(the tab closed, and ``unused_session_lifetime_milliseconds`` passed) :meth:`Session.close`
drops the hub listener, the components and their cursors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from bokeh.core.property.validation import validate
from bokeh.document import Document
from bokeh.models import LayoutDOM
from tornado.ioloop import IOLoop

from webmon.shm import Selector, parse_selector

from .batching import release
from .feed import Feed
from .history import StreamHistory
from .hub import Hub
from .ondemand import ArraySnapshot

log = logging.getLogger(__name__)


class Component(Protocol):
    """A piece of a tab, in the style of the Dask dashboard's components."""

    root: LayoutDOM

    def update(self) -> None: ...


@dataclass(frozen=True)
class Increment:
    """What a cursor read: new records, and whether the component must start over first
    (another producer was chosen, or the producer restarted)."""

    records: np.ndarray | None
    reset: bool

    def __len__(self) -> int:
        return 0 if self.records is None else len(self.records)


class StreamCursor:
    """A session's position in one stream's history on the hub."""

    def __init__(self, session: Session, stream: str, backfill: int, limit: int | None) -> None:
        self._session = session
        self.stream = stream
        self._backfill = backfill
        self._limit = limit
        self._generation: int | None = None
        self._position = 0

    def read(self) -> Increment:
        feed = self._session.feed
        reset = False
        generation = feed.generation if feed is not None else None
        if generation != self._generation:
            reset = self._generation is not None
            self._generation = generation
            self._position = -1  # start from the backfill once the history exists
        if feed is None:
            return Increment(None, reset)
        history = feed.history(self.stream)
        if history is None:
            return Increment(None, reset)
        if self._position < 0:
            self._position = max(history.oldest, history.total - self._backfill)
        records, self._position = history.since(self._position, self._limit)
        return Increment(records, reset)


def parse_choice(producer: str | Selector | None) -> Selector | None:
    """A session's choice of producer from ``?producer=`` (``NAME`` or ``NAME@PID``); None,
    with a warning, for text that names no producer."""
    if producer is None or isinstance(producer, Selector):
        return producer
    try:
        return parse_selector(producer) if producer else None
    except (TypeError, ValueError) as exc:
        log.warning("ignoring the producer choice %r: %s", producer, exc)
        return None


def request_argument(doc: Document, name: str) -> str | None:
    """The first ``?name=`` of the address that opened ``doc``'s page, as text (None when
    absent or empty).  It is whatever the address held: check it before use."""
    context = doc.session_context
    request = context.request if context is not None else None
    values = request.arguments.get(name) if request is not None else None
    if not values:
        return None
    value = values[0]
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text or None


class Session:
    """Binds one Bokeh document to the hub."""

    def __init__(self, hub: Hub, doc: Document, producer: str | Selector | None = None
                 ) -> None:
        self.hub = hub
        self.doc = doc
        #: The producer this tab chose (``demo``: the newest live one of that name,
        #: ``demo@8151``: that one); None follows the hub's default (the newest live one).
        self.chosen: Selector | None = parse_choice(producer)
        self._components: list[Component] = []
        self._failures: dict[int, tuple[str, str]] = {}
        self._before_update: list[Callable[[], None]] = []
        self._pending = False
        self._closed = False
        self._asked: set[str] = set()  # state keys asked for, released on close
        #: Whether the document was ever served (Bokeh 3.10 gives it its session context only
        #: after building it).
        self._served = doc.session_context is not None
        #: How many times the components were brought up to date.
        self.updates = 0
        #: The page is in a background tab (it says so; see ``painting.py``): no updates
        #: are sent until it is shown again.
        self.hidden = False
        self._token = hub.connect(self._on_tick)

    # -- what components use -----------------------------------------------------------
    @property
    def producer(self) -> str | None:
        """Who is shown, as a selector's text: the chosen one, else the hub's default
        producer as ``name@pid`` (None while there is none)."""
        if self.chosen is not None:
            return str(self.chosen)
        feed = self.hub.default_feed()
        return str(feed.key) if feed is not None else None

    @property
    def feed(self) -> Feed | None:
        """The feed shown: the newest live producer the choice names (else the one of them
        that went last), or the hub's default."""
        if self.chosen is not None:
            return self.hub.feed(self.chosen)
        return self.hub.default_feed()

    def argument(self, name: str) -> str | None:
        """The first ``?name=`` of the page's address (see :func:`request_argument`)."""
        return request_argument(self.doc, name)

    def cursor(self, stream: str, backfill: int, limit: int | None = None) -> StreamCursor:
        """A cursor that first returns up to ``backfill`` records already held, then only
        new ones (at most ``limit`` per read)."""
        return StreamCursor(self, stream, backfill, limit)

    def history(self, stream: str) -> StreamHistory | None:
        feed = self.feed
        return feed.history(stream) if feed is not None else None

    def state(self, key: str) -> tuple[Any, int]:
        feed = self.feed
        if feed is None:
            return None, 0
        self._asked.add(key)
        return feed.state(key)

    def array(self, name: str) -> ArraySnapshot | None:
        """The shown producer's shared array ``name``, as the hub last read it (decimated to
        a screen's worth); asking keeps the hub reading it."""
        feed = self.feed
        return feed.array(name) if feed is not None else None

    def add(self, component: Component) -> Component:
        """Update ``component`` after every hub tick while this session lives."""
        self._components.append(component)
        return component

    def before_update(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` before the components on every update (headers, selectors)."""
        self._before_update.append(callback)

    def choose(self, producer: str | Selector | None) -> None:
        """Show the producer ``producer`` names from now on (None: the hub's default)."""
        self.chosen = parse_choice(producer or None)

    def set_hidden(self, hidden: bool) -> None:
        """The page was hidden (no more updates) or shown again (brought up to date at
        once, then on every tick)."""
        self.hidden = hidden
        if not hidden:
            self.hub.run_on_loop(self._on_tick)  # called from Bokeh's thread for callbacks

    # -- scheduling --------------------------------------------------------------------
    def _on_tick(self) -> None:
        if self._closed:
            return
        context = self.doc.session_context
        server_session = getattr(context, "session", None) if context is not None else None
        self._served = self._served or context is not None
        if (self._served and context is None) or (server_session is not None
                                                  and server_session.destroyed):
            # Destroyed without its destroy hooks having run here (a cleared notebook output's
            # destroy_server drops the document's context; Bokeh ignores an update queued
            # then): nothing will show it again.
            self.close()
            return
        if self._pending or self.hidden:
            # The previous update has not run yet (it will read this tick's data too), or
            # nobody can see the page.
            return
        self._pending = True
        if server_session is not None and server_session.connection_count == 0:
            # No page connected (a closed tab, until Bokeh discards the session): nothing to
            # send, and a queued update would hold off the discard, which waits for the
            # document's lock to be free (Bokeh 3.10 gives up while one is queued).
            self._pending = False
            return
        if server_session is not None:
            # What doc.add_next_tick_callback ends up doing (run under the document's lock,
            # then send the changes), without Bokeh's bookkeeping of removable callbacks,
            # which was a large part of a tab's update (measured in docs/dashboard.md).
            IOLoop.current().add_callback(server_session.with_document_locked,
                                          self._update_on_loop)
        elif context is not None:
            # Served, its server session not made yet: Bokeh runs this once it is.
            self.doc.add_next_tick_callback(self._update_on_loop)
        else:
            self.doc.add_next_tick_callback(self.update)  # a document outside a server

    async def _update_on_loop(self) -> None:
        # A coroutine, because Bokeh runs a coroutine callback on the IOLoop (under the
        # document's lock, like any); Bokeh 3.10 runs a plain one in a worker thread, where
        # it would read the hub's histories while the hub's tick appends to them.
        self.update()

    def update(self) -> None:
        """Bring every component up to date, as one combined change of the document."""
        self._pending = False
        if self._closed or self.hidden:
            return  # (hidden after this update was queued: nobody would see it)
        self.updates += 1
        self.doc.hold("combine")
        # Without Bokeh's check of every value set or streamed against its property type
        # (Bokeh's switch for update callbacks): for a few records it is a large part of a
        # stream call (docs/dashboard.md), and these values come from webmon's own code.
        with validate(False):
            self._update_components()

    def _update_components(self) -> None:
        try:
            for callback in self._before_update:
                try:
                    callback()
                except Exception:
                    log.exception("updating the header failed")
            for component in self._components:
                try:
                    component.update()
                except Exception as exc:
                    # One broken component must not freeze the rest of the tab.
                    self._failed(component, exc)
                else:
                    if self._failures:
                        self._failures.pop(id(component), None)
        finally:
            release(self.doc, self.hub.batching)

    def _failed(self, component: Component, exc: Exception) -> None:
        """Remember why ``component`` failed (:meth:`failures`); log each new error once,
        not on every tick it repeats."""
        name = type(component).__name__
        message = f"{type(exc).__name__}: {exc}"
        if self._failures.get(id(component)) != (name, message):
            log.error("updating %s failed", name, exc_info=exc)
        self._failures[id(component)] = (name, message)

    def failures(self) -> list[tuple[str, str]]:
        """``(component, error)`` of each component whose last update raised."""
        return list(self._failures.values())

    def close(self) -> None:
        """Stop updating; drop the components and their cursors, and the interest in the
        state they asked for (an instrument the producer runs only while watched stops
        within a second when this was the last session showing it)."""
        self._closed = True
        self.hub.disconnect(self._token)
        feed = self.feed
        if feed is not None:
            for key in self._asked:
                feed.release(key)
        self._asked.clear()
        self._components.clear()
        self._before_update.clear()

    @property
    def closed(self) -> bool:
        return self._closed
