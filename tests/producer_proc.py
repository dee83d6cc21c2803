"""A producer run as a separate process by the transport tests.

    python producer_proc.py MODE NAME [ARGS...]

It prints ``READY`` once its channel is published, then works until stdin reaches EOF (the
test closes it) or it is killed.  Records of the stress stream carry fields derived from their
sequence number, so a reader can prove each one intact.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

from webmon import Publisher

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


def wait_for_stdin_eof(stop: threading.Event, go: threading.Event) -> None:
    """A line on stdin means "go"; end of file means "stop"."""
    for _line in sys.stdin:
        go.set()
    go.set()
    stop.set()


def main() -> None:
    mode, name, *args = sys.argv[1:]
    stop = threading.Event()
    go = threading.Event()
    threading.Thread(target=wait_for_stdin_eof, args=(stop, go), daemon=True).start()
    with Publisher(name, app=f"test-{mode}") as pub:
        if mode == "serve":
            serve(pub, stop)
        elif mode == "stress":
            stress(pub, stop, go, total=int(args[0]), capacity=int(args[1]))
        elif mode == "array":
            rewrite_array(pub, stop, nbytes=int(args[0]))
        elif mode == "state":
            rewrite_state(pub, stop)
        elif mode == "still":
            still(pub, stop)
        elif mode == "slowpoll":
            slow_poll(pub, stop, period=float(args[0]))
        elif mode == "reshape":
            reshape_forever(pub, stop)
        else:
            raise SystemExit(f"unknown mode {mode}")


def serve(pub: Publisher, stop: threading.Event) -> None:
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
    no_poll_until = 0.0

    def stop_polling(seconds: float) -> str:
        nonlocal no_poll_until
        no_poll_until = time.monotonic() + seconds
        return "ok"

    pub.register_command("stop_polling", stop_polling)
    print("READY", flush=True)
    seq = 0
    while not stop.is_set():
        loads.append(stress_record(seq))
        seq += 1
        if time.monotonic() >= no_poll_until:
            pub.poll()
        pub.set_state("wanted", pub.wanted("config"))
        time.sleep(0.002)


def stress(pub: Publisher, stop: threading.Event, go: threading.Event, total: int,
           capacity: int) -> None:
    stream = pub.stream("stress", STRESS_DTYPE, capacity=capacity)
    print("READY", flush=True)
    go.wait()  # the test says go once its readers are attached
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
    stop.wait()


def rewrite_array(pub: Publisher, stop: threading.Event, nbytes: int) -> None:
    frame = np.zeros(nbytes // 8, dtype=np.int64)
    pub.share_array("frame", frame)
    print("READY", flush=True)
    k = 0
    while not stop.is_set():
        k += 1
        frame.fill(k)
        pub.share_array("frame", frame)
        pub.set_state("rewrites", k)


def rewrite_state(pub: Publisher, stop: threading.Event) -> None:
    pub.reserve_state("value", 1 << 20)
    print("READY", flush=True)
    k = 0
    while not stop.is_set():
        k += 1
        pub.set_state("value", {"k": k, "payload": [k] * (1000 + k % 5000)})


def still(pub: Publisher, stop: threading.Event) -> None:
    """A stream, a state key and an array written once, then only heartbeats and polls:
    their segments can be damaged without the producer itself touching them again."""
    pub.stream("records", STRESS_DTYPE, capacity=4096).extend(stress_batch(0, 1000))
    pub.set_state("config", {"levels": [1, 2, 4]})
    pub.share_array("thumb", np.arange(4096, dtype=np.float64))
    pub.register_command("ping", lambda: "pong")
    print("READY", flush=True)
    while not stop.is_set():
        pub.poll()
        time.sleep(0.005)


def slow_poll(pub: Publisher, stop: threading.Event, period: float) -> None:
    """Answer commands only every ``period`` seconds, so that callers pile up; ``run(i)``
    records that call ``i`` ran, ``ran()`` lists them."""
    ran: list[int] = []
    pub.register_command("run", lambda i: ran.append(i) or i)
    pub.register_command("ran", lambda: ran)
    print("READY", flush=True)
    while not stop.is_set():
        pub.poll()
        time.sleep(period)


def reshape_forever(pub: Publisher, stop: threading.Event, announce: bool = True) -> None:
    """Create streams and state keys and reshape arrays without end: killed at any moment,
    it may leave segments in every stage of being made."""
    if announce:
        print("READY", flush=True)
    k = 0
    while not stop.is_set():
        k += 1
        pub.share_array("grow", np.zeros(k % 50 + 1))
        pub.stream(f"s{k % 20}", STRESS_DTYPE, capacity=64)
        pub.reserve_state(f"k{k % 20}", 1024 * (k % 7 + 1))
        pub.set_state(f"k{k % 20}", k)


if __name__ == "__main__":
    main()
