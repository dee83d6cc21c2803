"""Producers are their name and their pid: the hub follows namesakes side by side, sessions
choose one by ``NAME@PID``, the selector and the status tab list each, and a producer whose
state cannot be read stays live."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from bokeh.document import Document
from faults import damage_magic, truncate, write_deep_state
from helpers import child_env, producer, wait_until

from webmon import Publisher, Subscriber
from webmon.apps import status
from webmon.schema import CHUNK_LOADS
from webmon.server import Hub, Session, throttle
from webmon.server.header import FOLLOW_NEWEST, ProducerHeader
from webmon.shm.segment import Segment


def ticking(hub: Hub, predicate, timeout: float = 10.0, message: str = "condition"):
    def step():
        hub.tick()
        return predicate()

    return wait_until(step, timeout, interval=0.02, message=message)


@pytest.fixture
def hub():
    hub = Hub(interval=0.05, discover_interval=0.0)
    yield hub
    hub.stop()


def test_namesakes_are_followed_side_by_side(hub: Hub) -> None:
    with producer("schema", "same", "--rate", "200") as older, \
            producer("schema", "same", "--rate", "50") as newer:
        ticking(hub, lambda: len(hub.live()) == 2, message="both followed")
        assert [f.pid for f in hub.live()] == [newer.pid, older.pid]  # newest first
        assert hub.feed("same").pid == newer.pid
        assert hub.feed(f"same@{older.pid}").pid == older.pid
        assert hub.feed("same@1") is None

        session = Session(hub, Document(), f"same@{older.pid}")
        assert session.feed.pid == older.pid and session.producer == f"same@{older.pid}"
        ticking(hub, lambda: session.feed.history(CHUNK_LOADS) is not None)

        header = ProducerHeader(Session(hub, Document()))
        assert header.selector.options == [
            (FOLLOW_NEWEST, "newest live producer"),
            (f"same@{newer.pid}", f"same \u00b7 pid {newer.pid}"),
            (f"same@{older.pid}", f"same \u00b7 pid {older.pid}")]

        rows = status.producer_rows(hub.feeds())
        assert sorted(zip(rows["name"], rows["pid"], rows["state"], strict=True)) == sorted(
            [("same", older.pid, "live"), ("same", newer.pid, "live")])

        newer.kill()
        newer.wait()
        ticking(hub, lambda: not hub.feed(f"same@{newer.pid}").alive, message="newer gone")
        assert session.feed.alive and session.feed.pid == older.pid  # still that process
        assert hub.feed("same").pid == older.pid  # a name alone: the newest *live* one
        rows = status.producer_rows(hub.feeds())
        assert dict(zip(rows["pid"], rows["state"], strict=True)) == {
            older.pid: "live", newer.pid: "gone"}


def test_a_hub_told_name_at_pid_follows_that_process_only() -> None:
    with producer("schema", "twin", "--rate", "10") as first, \
            producer("schema", "twin", "--rate", "10"):
        hub = Hub(interval=0.05, discover_interval=0.0, producer=f"twin@{first.pid}")
        try:
            ticking(hub, lambda: hub.live(), message="followed")
            for _ in range(5):
                hub.tick()
            assert [f.pid for f in hub.feeds()] == [first.pid]
            header = ProducerHeader(Session(hub, Document()))
            assert header.fixed and header.selector.disabled
            assert header.selector.options == [(f"twin@{first.pid}",
                                                f"twin \u00b7 pid {first.pid}")]
        finally:
            hub.stop()


@pytest.mark.parametrize(("text", "chosen"), [
    ("demo", "demo"), ("demo@8151", "demo@8151"), ("@12", None), ("", None)])
def test_a_session_parses_its_choice(hub: Hub, text: str, chosen: str | None) -> None:
    session = Session(hub, Document(), text)
    assert (str(session.chosen) if session.chosen else None) == chosen


def test_an_unreadable_state_key_leaves_the_producer_live(
        hub: Hub, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    with producer("still", "still"):
        feed = ticking(hub, lambda: hub.feed("still"), message="followed")
        with Subscriber("still") as sub:
            config = sub.info.raw["state"]["config"]["segment"]
        damage_magic(config)
        attaches = []
        real_attach = Segment.attach.__func__
        monkeypatch.setattr(Segment, "attach", classmethod(
            lambda cls, name: attaches.append(name) or real_attach(cls, name)))
        caplog.set_level(logging.WARNING, logger="webmon")
        feed.state("config")  # a session asks for it
        feed.history("records")  # and shows the stream
        for _ in range(100):
            hub.tick()
            feed.state("config")
            feed.history("records")
            feed.state_overview()  # the explorer's overview reads every key too
        assert feed.alive and hub.feed("still") is feed
        assert "not a webmon segment" in feed.unreadable()["config"]
        assert "records" not in feed.unreadable() and feed.history("records").total == 1000
        warnings = [r for r in caplog.records if "cannot be read" in r.getMessage()]
        assert len(warnings) == 1, caplog.text
        assert "state 'config'" in warnings[0].getMessage()
        assert "still@" in warnings[0].getMessage()
        assert hub.read_errors == 0
        # not attached again on every tick: tried again every 5 s
        assert attaches.count(config) <= 3
        rows = status.producer_rows(hub.feeds())
        assert rows["state"] == ["live"] and rows["unreadable"] == ["config"]
        monkeypatch.undo()
        damage_magic(config)  # mended: read again once its retry is due
        _retry_now(feed, "config")
        ticking(hub, lambda: (feed.state("config"), "config" not in feed.unreadable())[1],
                message="the key read again")
        assert feed.state("config")[0] == {"levels": [1, 2, 4]}

        # A key that keeps breaking and mending is still said once a minute, not each time.
        for _ in range(3):
            assert write_deep_state(config)
            ticking(hub, lambda: (feed.state("config"), feed.state_overview(),
                                  "config" in feed.unreadable())[2], message="broken again")
            assert "nested too deeply" in feed.unreadable()["config"]
            assert write_deep_state(config, depth=1)  # "[]": a valid value again
            _retry_now(feed, "config")
            ticking(hub, lambda: (feed.state("config"), "config" not in feed.unreadable())[1],
                    message="mended again")
            assert feed.state("config")[0] == []
        warnings = [r for r in caplog.records if "cannot be read" in r.getMessage()]
        assert len(warnings) == 1, caplog.text
        assert feed.alive and hub.read_errors == 0


def _retry_now(feed, key: str) -> None:
    """Let an unreadable key be tried on the next tick rather than after its 5 s."""
    if key in feed._unreadable:
        feed._unreadable[key] = (feed._unreadable[key][0], 0.0)


def test_a_log_throttle_says_each_subject_once_a_minute(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    clock = [1000.0]
    monkeypatch.setattr(throttle.time, "monotonic", lambda: clock[0])
    said = throttle.LogThrottle(logging.getLogger("webmon.test"))
    caplog.set_level(logging.WARNING, logger="webmon")
    for _ in range(600):  # a minute of ticks, two producers' copies of one key
        said.log(logging.WARNING, ("a", "config"), "config of %s cannot be read", "a@1")
        said.log(logging.WARNING, ("b", "config"), "config of %s cannot be read", "b@2")
        clock[0] += 0.0999
    assert [r.getMessage() for r in caplog.records] == [
        "config of a@1 cannot be read", "config of b@2 cannot be read"]
    clock[0] += 0.1
    assert said.log(logging.WARNING, ("a", "config"), "config of %s cannot be read", "a@1")
    assert caplog.records[-1].getMessage() == (
        "config of a@1 cannot be read (599 more times in the last 60 s)")
    said.forget_group("b")  # gone: its next problem is said at once
    assert said.log(logging.WARNING, ("b", "config"), "config of %s cannot be read", "b@2")


HUB_BESIDE_A_SHRUNK_SEGMENT = textwrap.dedent("""
    import sys, time
    from webmon.server import Hub
    hub = Hub(interval=0.05, discover_interval=0.2)
    deadline = time.monotonic() + 30
    while hub.feed("still") is None or hub.feed("still").history("records") is None:
        hub.tick(); time.sleep(0.02)
        assert time.monotonic() < deadline
    feed = hub.feed("still")
    print("READY", flush=True)
    sys.stdin.readline()  # the segment is truncated now
    for _ in range(60):
        feed.state("config")
        hub.tick(); time.sleep(0.02)
    print(feed.alive, sorted(feed.unreadable()), hub.read_errors, flush=True)
    hub.stop()
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="truncates /dev/shm files")
def test_a_hub_survives_a_stream_segment_shrunk_under_it() -> None:
    with producer("still", "still"):
        with Subscriber("still") as sub:
            segments = sub.info.raw
        hub = subprocess.Popen([sys.executable, "-c", HUB_BESIDE_A_SHRUNK_SEGMENT],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=child_env())
        try:
            assert hub.stdout.readline().strip() == "READY", hub.stderr.read()
            truncate(segments["streams"]["records"]["segment"])
            truncate(segments["state"]["config"]["segment"])
            out, err = hub.communicate("go\n", timeout=60)
        finally:
            if hub.poll() is None:
                hub.kill()
        assert hub.returncode == 0, f"the hub died ({hub.returncode}): {err}"
        assert out.strip() == "True ['config', 'records'] 0"


def test_a_publisher_warns_when_its_name_is_live(caplog: pytest.LogCaptureFixture) -> None:
    with producer("schema", "taken") as other:
        with caplog.at_level(logging.WARNING, logger="webmon"), Publisher("taken"):
            pass
    assert f"taken@{other.pid}" in caplog.text and f"taken@{os.getpid()}" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="webmon"), Publisher("free"):
        pass
    assert "another live producer" not in caplog.text


def test_a_stopped_producer_is_not_responding_then_live_again(hub: Hub) -> None:
    """A producer whose heartbeat stops while its process lives (stopped here with SIGSTOP;
    a thread holding the GIL or a starved machine look the same) is shown as not
    responding, not gone, and is still followed when it resumes: a stall is what the
    dashboard is opened to watch."""
    from webmon.server.header import header_text

    with producer("schema", "frozen", "--rate", "200") as proc:
        ticking(hub, lambda: hub.feed("frozen") is not None
                and hub.feed("frozen").history(CHUNK_LOADS) is not None, message="followed")
        feed = hub.feed("frozen")
        sub = Subscriber(feed.info)
        try:
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                ticking(hub, lambda: not feed.responding, message="its heartbeat late")
                assert feed.alive and sub.alive and not sub.responding
                assert hub.feed("frozen") is feed
                rows = status.producer_rows(hub.feeds())
                assert rows["state"] == ["not responding"]
                text = header_text(feed, "frozen")
                assert text.state == "not responding" and "no heartbeat for" in text.detail
                before = feed.history(CHUNK_LOADS).total
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            ticking(hub, lambda: feed.responding
                    and feed.history(CHUNK_LOADS).total > before, message="read again")
            assert hub.feed("frozen") is feed and feed.alive and sub.responding
            assert status.producer_rows(hub.feeds())["state"] == ["live"]
            assert header_text(feed, "frozen").state == "live"
        finally:
            sub.close()
