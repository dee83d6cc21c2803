"""The hub against real producer processes: discovery, fan-out to sessions, producers that
appear, die and come back, and commands that never block the IOLoop."""

from __future__ import annotations

import asyncio
import itertools
import logging
import signal

import numpy as np
import pytest
from bokeh.document import Document
from bokeh.models import Div
from helpers import producer, wait_until, wait_until_async

from webmon import CommandError
from webmon.schema import CHUNK_LOADS, CMD_SET_CONCURRENCY, LOADER
from webmon.server import Hub, Session
from webmon.server.hub import DEFAULT_HISTORY


def ticking(hub: Hub, predicate, timeout: float = 10.0, message: str = "condition"):
    """Tick ``hub`` by hand until ``predicate()`` holds."""
    return wait_until(predicate, timeout, interval=0.02, message=message, each=hub.tick)


class Recorder:
    """A component that keeps every chunk-load time its cursor hands it."""

    def __init__(self, session: Session) -> None:
        self.cursor = session.cursor(CHUNK_LOADS, backfill=0)
        self.times: list[float] = []
        self.resets = 0
        self.root = Div()

    def update(self) -> None:
        increment = self.cursor.read()
        if increment.reset:
            self.resets += 1
        if len(increment):
            self.times.extend(increment.records["time"].tolist())


@pytest.fixture
def hub():
    hub = Hub(interval=0.05, discover_interval=0.0)
    yield hub
    hub.stop()


def test_picks_up_a_producer_that_starts_later(hub: Hub) -> None:
    hub.tick()
    assert hub.feeds() == []
    with producer("schema", "late", "--rate", "500"):
        feed = ticking(hub, lambda: hub.feed("late"), message="producer discovered")
        assert feed.alive and feed.app == "dashboard-test-producer"
        ticking(hub, lambda: (h := feed.history(CHUNK_LOADS)) is not None and h.total > 200,
                message="records in the history")
        stats = feed.stream_stats()[CHUNK_LOADS]
        assert stats.received == feed.history(CHUNK_LOADS).total
        assert stats.lost == 0
        # 500 records a second by the producer's clock, over the hub's rate window.
        ticking(hub, lambda: 250 < feed.stream_stats()[CHUNK_LOADS].rate < 1000,
                message="the rate measured")


def test_two_sessions_each_receive_every_increment_once(hub: Hub) -> None:
    with producer("schema", "fan", "--rate", "1000"):
        feed = ticking(hub, lambda: hub.feed("fan"))
        ticking(hub, lambda: feed.history(CHUNK_LOADS) is not None)
        sessions = [Session(hub, Document(), "fan") for _ in range(2)]
        recorders = [s.add(Recorder(s)) for s in sessions]
        for s in sessions:
            s.update()  # both cursors start at the newest record
        start = feed.history(CHUNK_LOADS).total
        ticks = itertools.count()

        def tick_and_update() -> None:
            hub.tick()
            sessions[0].update()
            if next(ticks) % 3 == 0:  # the second tab is slower: bigger increments, no repeats
                sessions[1].update()

        wait_until(lambda: feed.history(CHUNK_LOADS).total - start > 500, interval=0.02,
                   each=tick_and_update, message="500 records streamed")
        sessions[1].update()
        history = feed.history(CHUNK_LOADS)
        expected, _ = history.since(start)
        assert len(expected) > 500
        for recorder in recorders:
            assert np.array_equal(np.array(recorder.times), expected["time"])
        assert hub.session_count == 2
        for s in sessions:
            s.close()
        assert hub.session_count == 0


def test_producer_dies_and_comes_back(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    from webmon.apps import loader, status

    session = Session(hub, Document(), "phoenix")
    recorder = session.add(Recorder(session))
    loader.build(session)
    status.build(session)
    with producer("schema", "phoenix") as first:
        feed = ticking(hub, lambda: hub.feed("phoenix"))
        ticking(hub, lambda: (session.update(), len(recorder.times) > 100)[1])
        first.send_signal(signal.SIGKILL)
        first.wait()
        ticking(hub, lambda: not feed.alive, message="producer shown as gone")
        assert hub.feed("phoenix") is feed and feed.gone_at is not None
        kept = feed.history(CHUNK_LOADS)  # it no longer grows: trimmed to what it holds
        assert kept.capacity == len(kept) < DEFAULT_HISTORY
        with caplog.at_level(logging.WARNING, logger="webmon"):
            for _ in range(5):  # plots stop, quietly
                hub.tick()
                session.update()
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
        seen = len(recorder.times)
        with producer("schema", "phoenix") as second:
            new = ticking(hub, lambda: (f := hub.feed("phoenix")) is not feed and f,
                          message="restarted producer followed")
            assert new.alive and new.pid == second.pid and new.generation > feed.generation
            ticking(hub, lambda: (session.update(), len(recorder.times) > seen + 100)[1],
                    message="records from the new producer")
            assert recorder.resets == 1
            names = [(f.name, f.alive) for f in hub.feeds()]
            assert names == [("phoenix", True), ("phoenix", False)]
    session.close()


def test_follows_only_the_named_producer() -> None:
    hub = Hub(interval=0.05, discover_interval=0.0, producer="wanted")
    try:
        with producer("schema", "wanted", "--rate", "10"), \
                producer("schema", "other", "--rate", "10"):
            ticking(hub, lambda: hub.feed("wanted"))
            for _ in range(5):
                hub.tick()
            assert [f.name for f in hub.feeds()] == ["wanted"]
            assert hub.default_feed().name == "wanted"
    finally:
        hub.stop()


def test_state_is_read_while_someone_asks(hub: Hub) -> None:
    with producer("schema", "stateful"):
        feed = ticking(hub, lambda: hub.feed("stateful"))
        assert feed.state(LOADER) == (None, 0)  # asking registers interest...
        value, version = ticking(hub, lambda: feed.state(LOADER)[1] and feed.state(LOADER))
        assert value == {"paused": False, "concurrency": 4} and version > 0  # ...then it is read


def test_commands_run_off_the_ioloop_and_report_errors() -> None:
    async def scenario() -> None:
        from tornado.ioloop import IOLoop

        hub = Hub(interval=0.02, discover_interval=0.0)
        hub.start(IOLoop.current())
        try:
            feed = await wait_until_async(lambda: hub.feed("commands"))
            reply = await hub.call("commands", CMD_SET_CONCURRENCY, workers=7)
            assert reply == {"paused": False, "concurrency": 7}

            # "wait_for_go" answers only once told "go" on the producer's stdin: meanwhile the
            # IOLoop goes on ticking, twenty times, with the call still waiting.
            call = asyncio.ensure_future(hub.call("commands", "wait_for_go", timeout=60.0))
            await wait_until_async(lambda: feed.state("holding")[0] is True,
                                   message="the producer holding the call")
            ticks = hub.stats.count
            await wait_until_async(lambda: hub.stats.count - ticks >= 20,
                                   message="twenty ticks during the call")
            assert not call.done()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert await call == "released"

            with pytest.raises(CommandError, match="between 1 and 64"):
                await hub.call("commands", CMD_SET_CONCURRENCY, workers=1000)
            with pytest.raises(CommandError):
                await hub.call("commands", "no_such_command")
            with pytest.raises(LookupError):
                await hub.call("nobody", CMD_SET_CONCURRENCY, workers=1)
        finally:
            hub.stop()

    with producer("schema", "commands") as proc:
        asyncio.run(scenario())


def test_follows_a_new_publisher_of_the_same_process(hub: Hub) -> None:
    """A process that closes its Publisher and opens another of the same name (napari's dock
    widget, a replay that seeks) is a new producer: sessions start over on it."""
    from webmon import Publisher
    from webmon.schema import CHUNK_DTYPE

    first = Publisher("reopened")
    first.stream(CHUNK_LOADS, CHUNK_DTYPE).append((1.0, 1, 0, 0, 0, 1, 1.0, 0, 0.0))
    feed = ticking(hub, lambda: hub.feed("reopened"), message="first publisher followed")
    generation = feed.generation
    second = Publisher("reopened")
    second.stream(CHUNK_LOADS, CHUNK_DTYPE).append((2.0, 1, 0, 0, 0, 1, 1.0, 0, 0.0))
    first.close()
    try:
        new = ticking(hub, lambda: (f := hub.feed("reopened")) is not None
                      and f.generation != generation and f, message="second publisher followed")
        assert new.alive and not feed.alive
        ticking(hub, lambda: (h := new.history(CHUNK_LOADS)) is not None and h.total == 1,
                message="the new publisher's record read")
        assert new.history(CHUNK_LOADS).latest(1)["time"][0] == 2.0
    finally:
        second.close()
