"""Commands under hostile and heavy use: requests checked at the caller and again at the
producer, malformed requests answered without breaking later commands, and replies that
reach their own caller when many threads call at once."""

from __future__ import annotations

import json
import math
import threading

import pytest
from faults import raw_reply, raw_request
from helpers import producer

from webmon import CommandError, Publisher, Subscriber
from webmon.shm import CommandOutcomeUnknown, CommandTimeout
from webmon.shm.mailbox import DEFAULT_SLOTS


@pytest.fixture
def served():
    """A Publisher with an ``add`` command, polled by a thread, and a Subscriber of it."""
    with Publisher("cmd") as pub:
        pub.register_command("add", lambda a, b: a + b)
        stop = threading.Event()
        errors: list[BaseException] = []

        def pump() -> None:
            while not stop.is_set():
                try:
                    pub.poll()
                except BaseException as exc:  # poll must never raise for a request
                    errors.append(exc)
                stop.wait(0.001)

        thread = threading.Thread(target=pump)
        thread.start()
        sub = Subscriber("cmd")
        try:
            yield pub, sub, errors
        finally:
            stop.set()
            thread.join()
            sub.close()


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"command": ["ping"]}, TypeError, "command name is a string"),
    ({"command": ""}, ValueError, "must not be empty"),
    ({"command": "add", "timeout": math.inf}, ValueError, "finite number of seconds"),
    ({"command": "add", "timeout": math.nan}, ValueError, "finite number of seconds"),
    ({"command": "add", "timeout": 0}, ValueError, "above 0"),
    ({"command": "add", "timeout": -1.0}, ValueError, "above 0"),
    ({"command": "add", "timeout": "2"}, TypeError, "number of seconds"),
    ({"command": "add", "timeout": True}, TypeError, "number of seconds"),
])
def test_the_caller_refuses_what_no_producer_could_take(served, kwargs, error, match) -> None:
    _, sub, errors = served
    command = kwargs.pop("command")
    with pytest.raises(error, match=match):
        sub.call(command, **kwargs)
    assert sub.call("add", a=1, b=2) == 3 and errors == []


def test_the_caller_refuses_arguments_that_are_not_json(served) -> None:
    _, sub, _ = served
    with pytest.raises(TypeError, match="JSON-serialisable"):
        sub.call("add", a=object(), b=1)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        sub.call("add", a=math.nan, b=1)
    deep: list = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(ValueError, match="levels deep"):
        sub.call("add", a=deep, b=1)
    with pytest.raises(ValueError, match="over the"):
        sub.call("add", a="x" * 100_000, b=1)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(("request_json", "match"), [
    ('{"name":["ping"],"kwargs":{},"deadline":1e12}', "name"),
    ('{"name":"add","kwargs":{},"deadline":"soon"}', "deadline"),
    ('{"name":"add","kwargs":{},"deadline":null}', "deadline"),
    ('{"name":"add","kwargs":{},"deadline":true}', "deadline"),
    ('{"name":"add","kwargs":[1,2],"deadline":1e12}', "arguments"),
    ('{"name":"add","kwargs":{"a":1}}', "malformed"),
    ('[1,2,3]', "malformed"),
    ("not json at all", "not JSON"),
    ('{"name":"add","kwargs":{"a":' + _nested(8_000) + '},"deadline":1e12}', "not JSON"),
    ('{"name":"add","kwargs":{"a":1,"b":2,"c":3},"deadline":1e12}', "bad arguments"),
])
def test_the_producer_answers_malformed_requests_and_carries_on(served, request_json,
                                                                 match) -> None:
    _, sub, errors = served
    seq = raw_request(sub, request_json.encode())
    reply = raw_reply(sub, seq)
    assert reply is not None, "no reply to a malformed request"
    assert reply["ok"] is False and match in reply["error"]
    assert sub.call("add", a=2, b=3) == 5  # later commands work
    assert sub.call("add", a=4, b=3) == 7
    assert errors == []  # poll() never raised


def test_a_deep_result_is_refused_by_the_producer(served) -> None:
    pub, sub, _ = served
    pub.register_command("deep", lambda: json.loads(_nested(500)))
    with pytest.raises(CommandError, match="levels deep"):
        sub.call("deep")
    assert sub.call("add", a=1, b=1) == 2


def test_a_timeout_says_the_command_did_not_run() -> None:
    with Publisher("idle") as pub, Subscriber("idle") as sub:
        ran: list[int] = []
        pub.register_command("run", lambda: ran.append(1))
        with pytest.raises(CommandTimeout, match="will not run it"):
            sub.call("run", timeout=0.1)
        assert pub.poll() == 1 and ran == []  # answered "expired", never run


def test_a_command_taken_up_but_slow_is_outcome_unknown() -> None:
    with Publisher("slow") as pub, Subscriber("slow") as sub:
        # nap runs until the test lets it go, after the first call has given up: the
        # outcome does not hang on how long a nap takes against how soon the pump wakes,
        # only on the pump taking the request up within the call's 2 s.
        release = threading.Event()
        pub.register_command("nap", lambda: release.wait(30) and "rested")
        stop = threading.Event()

        def pump() -> None:
            while not stop.is_set():
                pub.poll()
                stop.wait(0.002)

        thread = threading.Thread(target=pump)
        thread.start()
        try:
            with pytest.raises(CommandOutcomeUnknown, match="may be running still"):
                sub.call("nap", timeout=2)
            release.set()
            assert sub.call("nap", timeout=5) == "rested"
        finally:
            release.set()
            stop.set()
            thread.join()


def test_eighty_threads_each_get_their_own_reply_or_an_honest_error() -> None:
    """Through one Subscriber, 80 threads call a producer that polls every millisecond, more
    callers than the mailbox has slots.  Every call either returns its own argument, or
    says it timed out (and then the producer never ran it), or says the outcome is
    unknown: never a plain timeout for a command that ran."""
    threads, calls_each = 80, 6
    assert threads > DEFAULT_SLOTS
    with producer("slowpoll", "flood", 0.001):
        sub = Subscriber("flood")
        outcomes: dict[int, str] = {}
        lock = threading.Lock()
        start = threading.Barrier(threads)

        def caller(t: int) -> None:
            start.wait()
            for k in range(calls_each):
                i = t * calls_each + k
                try:
                    got = sub.call("run", i=i, timeout=0.4)
                    outcome = "ok" if got == i else f"wrong reply {got}"
                except CommandOutcomeUnknown:
                    outcome = "unknown"
                except CommandTimeout:
                    outcome = "timeout"
                with lock:
                    outcomes[i] = outcome

        workers = [threading.Thread(target=caller, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        ran = set(sub.call("ran", timeout=10))
        sub.close()
    assert len(outcomes) == threads * calls_each
    assert not [o for o in outcomes.values() if o.startswith("wrong")]
    succeeded = {i for i, o in outcomes.items() if o == "ok"}
    timed_out = {i for i, o in outcomes.items() if o == "timeout"}
    assert succeeded <= ran
    assert not (timed_out & ran), f"{len(timed_out & ran)} calls timed out but ran"
    assert len(succeeded) > threads  # the flood was served, not merely refused
