"""The napari adapter's writing thread: work handed over runs on it, one run at a time.

``webmon.napari.writer`` imports neither napari nor Qt, so this runs without them.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from helpers import wait_until

from webmon.napari.writer import WritingThread


class Calls:
    """Records what the thread ran, and on which thread."""

    def __init__(self, fail_first_publish: bool = False) -> None:
        self.writes: list[int] = []
        self.jobs: list[Any] = []
        self.fail_first_publish = fail_first_publish
        self.done = threading.Event()

    def write(self) -> None:
        self.writes.append(threading.get_ident())
        self.done.set()

    def publish(self, job: Any) -> None:
        if self.fail_first_publish:
            self.fail_first_publish = False
            raise RuntimeError("broken job")
        self.jobs.append((job, threading.get_ident()))
        self.done.set()


def flushed(writer: WritingThread, calls: Calls) -> list[Any]:
    """The jobs published, once a job submitted now has run: the thread takes the work
    submitted in order, so anything still pending from before would have run by then.
    (Submit it only once the job under test was taken, or it replaces that job.)"""
    writer.submit("flush")
    wait_until(lambda: calls.jobs and calls.jobs[-1][0] == "flush", interval=0.005,
               message="the writing thread ran")
    return [job for job, _ in calls.jobs[:-1]]


@pytest.fixture
def calls() -> Calls:
    return Calls()


def test_submitted_work_runs_on_the_thread(calls: Calls) -> None:
    writer = WritingThread(calls.write, calls.publish, "webmon-writer-test")
    try:
        writer.submit({"view": 1})
        wait_until(lambda: calls.jobs, interval=0.005)
        assert calls.jobs[0][0] == {"view": 1}
        assert calls.jobs[0][1] != threading.get_ident()
        assert calls.writes == []  # not asked to write
        writer.submit(write=True)
        wait_until(lambda: calls.writes, interval=0.005)
        assert calls.writes[0] != threading.get_ident() and len(calls.jobs) == 1
    finally:
        writer.stop()


def test_a_job_not_started_is_replaced_but_a_write_is_kept(calls: Calls) -> None:
    writer = WritingThread(calls.write, calls.publish, "webmon-writer-test")
    try:
        with writer.lock:  # the thread cannot start meanwhile
            writer.submit("old view", write=True)
            writer.submit("new view")
        wait_until(lambda: calls.jobs, interval=0.005)
        assert flushed(writer, calls) == ["new view"]
        assert len(calls.writes) == 1
    finally:
        writer.stop()


def test_run_now_runs_on_the_callers_thread_and_supersedes_a_submitted_job(
        calls: Calls) -> None:
    writer = WritingThread(calls.write, calls.publish, "webmon-writer-test")
    try:
        with writer.lock:
            writer.submit("stale view")
        writer.run_now("current view")
        me = threading.get_ident()
        assert calls.writes == [me] and calls.jobs[0] == ("current view", me)
        assert flushed(writer, calls) == ["current view"]
    finally:
        writer.stop()


def test_a_failing_job_is_logged_and_the_thread_goes_on(caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    calls = Calls(fail_first_publish=True)
    writer = WritingThread(calls.write, calls.publish, "webmon-writer-test")
    try:
        with caplog.at_level(logging.ERROR, logger="webmon.napari.writer"):
            writer.submit("first")
            wait_until(lambda: "broken job" in caplog.text, interval=0.005)
        writer.submit("second")
        wait_until(lambda: calls.jobs, interval=0.005)
        assert calls.jobs[0][0] == "second" and writer.alive
    finally:
        writer.stop()


def test_stop_ends_the_thread_and_is_idempotent(calls: Calls) -> None:
    writer = WritingThread(calls.write, calls.publish, "webmon-writer-test")
    writer.stop()
    assert not writer.alive
    writer.stop()
    writer.submit("after stop", write=True)  # nothing runs (the thread ended), nothing raises
    assert calls.jobs == [] and calls.writes == []
