"""Sessions on a real Bokeh server: every open tab gets the hub's increments through its
own document, and a closed tab's session is released within seconds."""

from __future__ import annotations

import urllib.request
from functools import partial

import numpy as np
from bokeh.client import pull_session
from helpers import producer, wait_until

from webmon.apps import TABS
from webmon.schema import CHUNK_LOADS
from webmon.server import serve_in_thread
from webmon.server.serve import call_on_loop

PATH = "/individual-loader-chunk-loads"


def server_sessions(dashboard, path: str = PATH) -> list:
    return call_on_loop(dashboard, lambda: dashboard.server.get_sessions(path))


def times_in_session_and_hub(dashboard, session) -> tuple[np.ndarray, np.ndarray]:
    """Chunk-load times in the session's sources, and in the hub's history, read together."""
    def read() -> tuple[np.ndarray, np.ndarray]:
        doc = session.document
        streamed = np.concatenate([
            np.asarray(doc.get_model_by_name(f"loader-chunk-loads-{mode}").data["time"])
            for mode in ("async", "sync")])
        history = dashboard.hub.feed("fan").history(CHUNK_LOADS)
        return np.sort(streamed), history.latest(history.capacity)["time"] * 1000.0

    return call_on_loop(dashboard, read)


def followed(dashboard, session, seen: np.ndarray,
             held: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`times_in_session_and_hub` once the session holds a record newer than any in
    ``seen`` (what it held before) and at least as new as the newest in ``held`` (what the
    hub held then)."""
    times, now_held = times_in_session_and_hub(dashboard, session)
    newest = times[-1] if len(times) else -np.inf
    return (times, now_held) if newest > seen[-1] and newest >= held[-1] else None


def test_every_session_streams_each_record_once() -> None:
    # Below the rate at which the chunk charts start sampling, so every record is drawn.
    with producer("schema", "fan", "--rate", "80"), \
            serve_in_thread(TABS, interval=0.03, producer="fan") as dashboard:
        wait_until(lambda: dashboard.hub.feed("fan"))
        clients = [pull_session(url=dashboard.url.rstrip("/") + PATH) for _ in range(2)]
        try:
            sessions = wait_until(lambda: len(s := server_sessions(dashboard)) == 2 and s)
            assert dashboard.hub.session_count == 2
            wait_until(lambda: all(len(times_in_session_and_hub(dashboard, session)[0]) > 250
                                   for session in sessions),
                       timeout=30, interval=0.2, message="251 records in each session")

            for session in sessions:
                # The session keeps following the hub: it comes to hold newer records, up
                # to the hub's newest now (waited for, not bounded: how far a session lags
                # under load is for benchmarks).
                seen, held = times_in_session_and_hub(dashboard, session)
                times, held = wait_until(partial(followed, dashboard, session, seen, held),
                                         timeout=30, interval=0.2,
                                         message="the session following the hub")
                # The producer stamps records in append order, so the session must hold
                # exactly what the hub held up to the newest record it streamed: every
                # record, none twice (the hub may have read more ticks since).
                assert np.array_equal(times, np.sort(held[held <= times[-1]]))
        finally:
            for client in clients:
                client.close()


def test_closed_sessions_are_released_within_seconds() -> None:
    with serve_in_thread(TABS, interval=0.05) as dashboard:
        client = pull_session(url=dashboard.url.rstrip("/") + "/loader")
        wait_until(lambda: dashboard.hub.session_count == 1, message="session connected")
        with urllib.request.urlopen(dashboard.url + "status", timeout=10):
            pass  # a page fetched but never connected is released too
        wait_until(lambda: dashboard.hub.session_count == 2)
        client.close()
        wait_until(lambda: dashboard.hub.session_count == 0, timeout=10,
                   message="sessions released")
        assert server_sessions(dashboard, "/loader") == []
        assert server_sessions(dashboard, "/status") == []


def test_sessions_update_on_the_servers_ioloop_thread() -> None:
    """Components read the hub's histories while the hub's tick, on the IOLoop, appends to
    them: updates must run on that thread too (Bokeh 3.10 runs plain document callbacks in
    worker threads; webmon's are coroutines, which it runs on the loop)."""
    import threading

    from bokeh.models import Div

    from webmon.server import Tab

    threads: list[int] = []

    class Probe:
        def __init__(self) -> None:
            self.root = Div(text="probe")

        def update(self) -> None:
            threads.append(threading.get_ident())

    def build(session) -> Div:
        return session.add(Probe()).root

    with serve_in_thread([Tab(name="probe", title="Probe", build=build)],
                         interval=0.03) as dashboard:
        client = pull_session(url=dashboard.url.rstrip("/") + "/probe")
        try:
            wait_until(lambda: len(threads) >= 5, message="five updates")
        finally:
            client.close()
        loop_thread = call_on_loop(dashboard, threading.get_ident)
    assert set(threads) == {loop_thread}
