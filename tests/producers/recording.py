"""The ``recording`` kind: what the recording tests record and check record by record.

    recording [--rate N] [--capacity N] [--batch N] [--state-bytes N]

It publishes ``seq`` (records numbered from 0, every field derived from the number, so a
reader can prove each record intact and say exactly which were lost), a ``counter`` state
that changes every 20 ms (padded with ``--state-bytes`` of text), an ``image`` array
rewritten twice a second, and, once its ``make_late`` command ran, a ``late`` stream.
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np

from webmon.shm import Publisher

from . import Control

SEQ_DTYPE = np.dtype([("time", "<f8"), ("seq", "<u8"), ("triple", "<i8"), ("tag", "S4"),
                      ("pair", "<f4", (2,))])


def seq_records(start: int, n: int) -> np.ndarray:
    seq = np.arange(start, start + n, dtype=np.uint64)
    out = np.zeros(n, SEQ_DTYPE)
    out["time"] = time.time()
    out["seq"] = seq
    out["triple"] = 3 * seq.astype(np.int64)
    out["tag"] = np.char.mod(b"%d", seq % 1000)
    out["pair"][:, 0] = seq % 97
    out["pair"][:, 1] = -(seq % 89.0)
    return out


def run(kind: str, name: str, argv: list[str], control: Control) -> None:
    parser = argparse.ArgumentParser(prog=f"producers {kind} NAME")
    parser.add_argument("--rate", type=float, default=2000.0, help="seq records per second")
    parser.add_argument("--capacity", type=int, default=1 << 16)
    parser.add_argument("--batch", type=int, default=0,
                        help="append in batches of this many (0: one record at a time)")
    parser.add_argument("--state-bytes", type=int, default=0,
                        help="pad each counter state with this many bytes of text")
    args = parser.parse_args(argv)

    with Publisher(name, app="recording-test") as pub:
        stream = pub.stream("seq", SEQ_DTYPE, capacity=args.capacity)
        pub.set_state("counter", {"n": 0})
        image = np.zeros((4, 6), dtype=np.uint16)
        pub.share_array("image", image)
        pub.register_command("ping", lambda: "pong")
        make_late = threading.Event()
        pub.register_command("make_late", lambda: make_late.set())
        control.ready()
        start = time.monotonic()
        sent = 0
        late = None
        next_state = next_image = start
        n_state = 0
        pad = {"pad": "x" * args.state_bytes} if args.state_bytes else {}
        while not control.stop.is_set():
            now = time.monotonic()
            due = int((now - start) * args.rate)
            if args.batch:
                while due - sent >= args.batch:
                    stream.extend(seq_records(sent, args.batch))
                    sent += args.batch
            else:
                while sent < due:
                    stream.append(tuple(seq_records(sent, 1)[0]))
                    sent += 1
            if now >= next_state:
                n_state += 1
                pub.set_state("counter", {"n": n_state, "seq": sent, **pad})
                next_state += 0.02
            if now >= next_image:
                image += 1
                pub.share_array("image", image)
                next_image += 0.5
            if late is None and make_late.is_set():
                late = pub.stream("late", SEQ_DTYPE, capacity=1024)
            if late is not None and sent % 10 == 0:
                late.append(tuple(seq_records(late.written(), 1)[0]))
            pub.poll()
            time.sleep(0.001)
