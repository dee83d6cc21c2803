"""The transport tests' kinds: ``serve``, ``stress TOTAL CAPACITY``, ``array NBYTES``,
``state``, ``still``, ``slowpoll PERIOD`` and ``reshape``. Records of the stress stream
carry fields derived from their sequence number, so a reader (``reader_proc.py``) can prove
each one intact. Needs only numpy and webmon's transport, so it runs on every interpreter
the cross-version tests use."""

from __future__ import annotations

import threading
import time

import numpy as np

from webmon.shm import Publisher

from . import Control

STRESS_DTYPE = np.dtype([("seq", "<u8"), ("triple", "<i8"), ("seventh", "<f8"),
                         ("tag", "u1"), ("neg", "<i4")])


def stress_record(seq: int) -> tuple:
    return (seq, 3 * seq, seq / 7.0, seq % 251, -(seq % 100003))


def stress_records(seq: np.ndarray) -> np.ndarray:
    """The records whose sequence numbers are ``seq``, every field derived from them."""
    seq = seq.astype(np.uint64)
    out = np.empty(len(seq), STRESS_DTYPE)
    out["seq"] = seq
    out["triple"] = 3 * seq.astype(np.int64)
    out["seventh"] = seq / 7.0
    out["tag"] = seq % 251
    out["neg"] = -(seq % 100003).astype(np.int32)
    return out


def stress_batch(start: int, n: int) -> np.ndarray:
    return stress_records(np.arange(start, start + n, dtype=np.uint64))


def run(kind: str, name: str, args: list[str], control: Control) -> None:
    with Publisher(name, app=f"test-{kind}") as pub:
        if kind == "serve":
            serve(pub, control)
        elif kind == "stress":
            stress(pub, control, total=int(args[0]), capacity=int(args[1]))
        elif kind == "array":
            rewrite_array(pub, control, nbytes=int(args[0]))
        elif kind == "still":
            still(pub, control)
        elif kind == "slowpoll":
            slow_poll(pub, control, period=float(args[0]))
        elif kind == "reshape":
            control.ready()
            reshape_forever(pub, control.stop)
        else:
            rewrite_state(pub, control)


def serve(pub: Publisher, control: Control) -> None:
    """A stream, a state key, an array and commands (``add``, ``fail``, ``record``, and
    ``stop_polling``: polls no more until the next "go" line on stdin); the state
    ``wanted`` says whether a subscriber wants ``config``."""
    loads = pub.stream("loads", STRESS_DTYPE, capacity=1024)
    pub.set_state("config", {"name": pub.name, "levels": [1, 2, 4]})
    pub.share_array("thumb", np.arange(64, dtype=np.float32).reshape(8, 8))
    pub.register_command("add", lambda a, b: a + b)
    pub.register_command("fail", lambda: 1 / 0)
    calls: list[str] = []

    def record(**kwargs: object) -> int:
        calls.append(repr(sorted(kwargs.items())))
        pub.set_state("calls", calls)
        return len(calls)

    pub.register_command("record", record)
    def stop_polling() -> str:
        control.go.clear()
        return "ok"

    pub.register_command("stop_polling", stop_polling)
    control.go.set()  # polls until stop_polling
    control.ready()
    seq = 0
    while not control.stop.is_set():
        loads.append(stress_record(seq))
        seq += 1
        if control.go.is_set():
            pub.poll()
        pub.set_state("wanted", pub.wanted("config"))
        time.sleep(0.002)


def stress(pub: Publisher, control: Control, total: int, capacity: int) -> None:
    """``total`` records as fast as it can, once told "go"; then the state ``done``."""
    stream = pub.stream("stress", STRESS_DTYPE, capacity=capacity)
    control.ready()
    control.go.wait()  # the test says go once its readers are attached
    rng = np.random.default_rng(7)
    seq = 0
    # About half the records one at a time, half in batches of random sizes.
    while seq < total:
        for _ in range(min(int(rng.integers(1, 2000)), total - seq)):
            stream.append(stress_record(seq))
            seq += 1
        n = min(int(rng.integers(1, 2000)), total - seq)
        stream.extend(stress_batch(seq, n))
        seq += n
    pub.set_state("done", seq)
    control.stop.wait()


def rewrite_array(pub: Publisher, control: Control, nbytes: int) -> None:
    """The array ``frame`` rewritten hundreds of times a second, every element the rewrite's
    number.  (Back to back, a reader descheduled mid-copy on a loaded machine can miss a
    consistent copy for its whole deadline: docs/transport.md.)"""
    frame = np.zeros(nbytes // 8, dtype=np.int64)
    pub.share_array("frame", frame)
    control.ready()
    k = 0
    while not control.stop.is_set():
        k += 1
        frame.fill(k)
        pub.share_array("frame", frame)
        pub.set_state("rewrites", k)
        control.stop.wait(0.001)


def rewrite_state(pub: Publisher, control: Control) -> None:
    """The state ``value`` rewritten back to back, its payload derived from its ``k``."""
    pub.reserve_state("value", 1 << 20)
    control.ready()
    k = 0
    while not control.stop.is_set():
        k += 1
        pub.set_state("value", {"k": k, "payload": [k] * (1000 + k % 5000)})


def still(pub: Publisher, control: Control) -> None:
    """A stream, a state key and an array written once, then only heartbeats and polls:
    their segments can be damaged without the producer itself touching them again."""
    pub.stream("records", STRESS_DTYPE, capacity=4096).extend(stress_batch(0, 1000))
    pub.set_state("config", {"levels": [1, 2, 4]})
    pub.share_array("thumb", np.arange(4096, dtype=np.float64))
    pub.register_command("ping", lambda: "pong")
    control.ready()
    while not control.stop.is_set():
        pub.poll()
        time.sleep(0.005)


def slow_poll(pub: Publisher, control: Control, period: float) -> None:
    """Answer commands only every ``period`` seconds, so that callers pile up; ``run(i)``
    records that call ``i`` ran, ``ran()`` lists them."""
    ran: list[int] = []
    pub.register_command("run", lambda i: ran.append(i) or i)
    pub.register_command("ran", lambda: ran)
    control.ready()
    while not control.stop.is_set():
        pub.poll()
        time.sleep(period)


def reshape_forever(pub: Publisher, stop: threading.Event) -> None:
    """Create streams and state keys and reshape arrays without end: killed at any moment,
    it may leave segments in every stage of being made (``tests/fork_server.py``)."""
    k = 0
    while not stop.is_set():
        k += 1
        pub.share_array("grow", np.zeros(k % 50 + 1))
        pub.stream(f"s{k % 20}", STRESS_DTYPE, capacity=64)
        pub.reserve_state(f"k{k % 20}", 1024 * (k % 7 + 1))
        pub.set_state(f"k{k % 20}", k)
