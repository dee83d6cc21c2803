"""Transport costs, each measured side by side with its baseline in one run.

    python benchmarks/bench_transport.py [--quick] [--only records,arrays,read,state]

1. Per-record cost of ``append`` and ``extend`` (batches of 1,000) against the 2020 design's
   hops: a ``multiprocessing.Manager().dict()`` proxy assignment and ``multiprocessing.Queue``.
2. ``share_array`` of a 64 MiB array against ``numpy.copyto`` of the same array into an
   array numpy allocated, and into private memory of 4 KiB pages; rounds interleaved in a
   random order and timed in this thread's CPU time, the ratio taken per round (timed one
   after the other, a loaded machine made the same ratio swing from 0.6 to 1.2).
3. Subscriber reads from a producer in another process that ``extend``s as fast as it can:
   the reader's CPU time per record it received (most are lost: the producer writes
   several times faster than a reader checks), and a full ring read at rest.
4. ``set_state`` of a tiles-like value (570 loaded tiles, about 5 KB of JSON): as state was
   written before (``json.dumps`` with its circular-reference check, a BLAKE2b check, the
   copy: layout version 1, reproduced here), as it is now, with an unchanged value, and
   pre-encoded with ``set_state_json``; and the parts (encoding, BLAKE2b against the CRC-32
   of ``bytes_check`` now, the copy).

Medians over repeats; the ratios are what to compare across machines.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mmap
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from webmon import Publisher, Subscriber
from webmon.schema import CHUNK_DTYPE
from webmon.shm import layout
from webmon.shm.checksum import bytes_check
from webmon.shm.state import StateWriter, encode

RECORD = (1.5e9, 1, 2, 30, 40, 262144, 3.25, 0, 0.5)


def per_item(fn: Callable[[], None], items: int, repeats: int) -> float:
    """Median seconds per item of ``fn``, which handles ``items`` items per call."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) / items)
    return statistics.median(times)


def bench_append_extend(quick: bool) -> list[tuple[str, float]]:
    n = 2_000 if quick else 20_000
    repeats = 5 if quick else 15
    rows = []
    with Publisher("bench-transport") as pub:
        stream = pub.stream("chunk_loads", CHUNK_DTYPE, capacity=65536)

        def appends() -> None:
            append = stream.append
            for _ in range(n):
                append(RECORD)

        batch = np.zeros(1000, CHUNK_DTYPE)
        batch[:] = RECORD

        def extends() -> None:
            for _ in range(n // 1000 or 1):
                stream.extend(batch)

        rows.append(("webmon append (1 record)", per_item(appends, n, repeats)))
        rows.append(("webmon extend (batches of 1,000)",
                     per_item(extends, (n // 1000 or 1) * 1000, repeats)))

    ctx = mp.get_context("spawn")  # the host application is never forked
    with ctx.Manager() as manager:
        proxy = manager.dict()
        m = max(200, n // 20)

        def proxy_assign() -> None:
            for _ in range(m):
                proxy["load_chunk"] = RECORD

        rows.append(("Manager().dict() proxy assignment", per_item(proxy_assign, m, repeats)))

    queue, ack = ctx.Queue(), ctx.Queue()
    drain = ctx.Process(target=_drain_ack, args=(queue, ack), daemon=True)
    drain.start()

    def queue_delivered() -> None:
        for _ in range(n):
            queue.put(RECORD)
        queue.put(None)  # the drain acknowledges once everything before it arrived
        ack.get()

    calls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            queue.put(RECORD)
        calls.append((time.perf_counter() - t0) / n)
        queue.put(None)
        ack.get()
    rows.append(("multiprocessing.Queue.put (call only)", statistics.median(calls)))
    rows.append(("multiprocessing.Queue.put (until delivered)",
                 per_item(queue_delivered, n, repeats)))
    queue.put("stop")
    drain.join(timeout=30)
    return rows


def _drain_ack(queue: mp.Queue, ack: mp.Queue) -> None:
    while True:
        item = queue.get()
        if item == "stop":
            return
        if item is None:
            ack.put(True)


def interleaved(fns: dict[str, Callable[[], None]], repeats: int, base: str
                ) -> dict[str, list[float]]:
    """Run every function once per round, in a new random order each round, timing each by
    this thread's CPU time (a loaded machine preempts a 20 ms copy often; CPU time does not
    count the time spent waiting).  Returns per-round CPU seconds of each function, and the
    ratio ``base / fn`` per round under ``"<name>/ratio"``."""
    rng = random.Random(1)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        order = list(fns.items())
        rng.shuffle(order)
        for name, fn in order:
            t0 = time.thread_time()
            fn()
            times[name].append(time.thread_time() - t0)
    for name in fns:
        times[f"{name}/ratio"] = [b / t for b, t in zip(times[base], times[name], strict=True)]
    return times


def bench_share_array(quick: bool) -> tuple[list[tuple[str, float]], dict[str, float]]:
    """``share_array`` of a 64 MiB array beside plain copies of it, interleaved.

    The plain copy is ``numpy.copyto`` into an array numpy allocated (backed by transparent
    huge pages where the system allows it for private memory, as numpy asks for), and, to
    show where the difference comes from, into private memory of 4 KiB pages."""
    nbytes = (16 if quick else 64) << 20
    arr = np.random.default_rng(0).integers(0, 255, nbytes, dtype=np.uint8)
    dest = np.empty_like(arr)
    dest[:] = 0
    small_pages = mmap.mmap(-1, nbytes)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        small_pages.madvise(mmap.MADV_NOHUGEPAGE)
    dest_4k = np.frombuffer(small_pages, np.uint8)
    dest_4k[:] = 0
    repeats = 15 if quick else 80
    with Publisher("bench-arrays") as pub:
        t0 = time.perf_counter()
        pub.share_array("big", arr)
        create = time.perf_counter() - t0
        pub.share_array("big", arr)  # both buffers written once
        sub = Subscriber("bench-arrays")
        out = np.empty_like(arr)
        times = interleaved({
            "copy": lambda: np.copyto(dest, arr),
            "copy 4k": lambda: np.copyto(dest_4k, arr),
            "share": lambda: pub.share_array("big", arr),
            "snapshot": lambda: sub.array("big", out=out),
        }, repeats, base="copy")
        sub.close()
    mib = nbytes / (1 << 20)
    med = {name: statistics.median(values) for name, values in times.items()}
    rows = [(f"share_array {mib:.0f} MiB, first call (creates the segment)", create),
            (f"share_array {mib:.0f} MiB, update in place", med["share"]),
            (f"numpy.copyto {mib:.0f} MiB into numpy's memory", med["copy"]),
            (f"numpy.copyto {mib:.0f} MiB into 4 KiB pages", med["copy 4k"]),
            (f"Subscriber.array {mib:.0f} MiB snapshot (other side)", med["snapshot"])]
    ratios = {"share/copy": med["share/ratio"], "copy 4k/copy": med["copy 4k/ratio"],
              "snapshot/copy": med["snapshot/ratio"],
              "share/copy 4k": statistics.median(
                  [a / b for a, b in zip(times["copy 4k"], times["share"], strict=True)]),
              "share/copy q1": float(np.percentile(times["share/ratio"], 25)),
              "share/copy q3": float(np.percentile(times["share/ratio"], 75))}
    return rows, ratios


def _produce(total: int, ready: mp.Event, go: mp.Event, done: mp.Event) -> None:
    with Publisher("bench-read") as pub:
        stream = pub.stream("chunk_loads", CHUNK_DTYPE, capacity=65536)
        batch = np.zeros(1000, CHUNK_DTYPE)
        batch[:] = RECORD
        ready.set()
        go.wait()
        for _ in range(total // 1000):
            stream.extend(batch)
        done.wait()


def bench_read(quick: bool) -> tuple[list[tuple[str, float]], dict[str, int]]:
    """Reading while a producer in another process ``extend``s as fast as it can.  The
    producer writes several times faster than a reader checks, so most records are lost
    (and counted): the cost is per record *received*, in the reader's own CPU time."""
    total = 1_000_000 if quick else 5_000_000
    ctx = mp.get_context("spawn")
    ready, go, done = ctx.Event(), ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_produce, args=(total, ready, go, done))
    proc.start()
    ready.wait(60)
    sub = Subscriber("bench-read")
    received = lost = reads = 0
    cpu0, t0 = time.thread_time(), time.perf_counter()
    go.set()
    while received + lost < total:
        batch = sub.read("chunk_loads")
        received += len(batch.records)
        lost += batch.lost
        reads += 1
    cpu, elapsed = time.thread_time() - cpu0, time.perf_counter() - t0
    # cost of reading a full ring at rest, per record
    sub._stream("chunk_loads").cursor = total - 65536
    full = per_item(lambda: _reread(sub, total), 65536, 10)
    done.set()
    proc.join(30)
    sub.close()
    counts = {"total": total, "received": received, "lost": lost, "reads": reads,
              "written per s": int(total / elapsed)}
    return [(f"live read, per record received ({received:,} of {total:,})", cpu / received),
            ("read of a full 65,536-record ring, per record", full)], counts


def _reread(sub: Subscriber, total: int) -> None:
    sub._stream("chunk_loads").cursor = total - 65536
    sub.read("chunk_loads")


def tiles_value(shift: int) -> dict:
    """A tiles state as the napari adapter publishes it: a few tiles in view, 570 read."""
    return {"1": {"layer": "image", "tile_config": {
        "base_shape": [65536, 65536], "level_shapes": [[65536 >> k] * 2 for k in range(9)],
        "level_index": 3, "image_shape": [8192, 8192], "shape_in_tiles": [32, 32],
        "tile_size": 256},
        "tile_state": {"seen": [[r, c] for r in range(2) for c in range(3)], "loading": [],
                       "loaded": [[(i * 7 + shift) % 32, i % 32] for i in range(570)],
                       "corners": [[1024.5 + shift, 2048.25], [1536.5, 2816.75]]}}}


def blake2b_check(seq: int, data: bytes) -> int:
    """The state check of layout version 1."""
    h = hashlib.blake2b(digest_size=8)
    h.update(seq.to_bytes(8, "little"))
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)
    return int.from_bytes(h.digest(), "little") or 1


def write_as_before(writer: StateWriter, data: bytes) -> None:
    """``StateWriter.write`` of layout version 1: no comparison, BLAKE2b check."""
    v = writer.version + 1
    buf = writer.segment.buf
    off = layout.STATE_HEADER + (v % 2) * (layout.STATE_BUFFER_HEAD_SIZE + writer.max_bytes)
    head = layout.STATE_BUFFER_HEAD_SIZE
    buf[off + head: off + head + len(data)] = data
    layout.STATE_BUFFER_HEAD.pack_into(buf, off, v, len(data), blake2b_check(v, data))
    writer.segment.u64(layout.STATE_VERSION).value = v
    writer.version = v


def bench_state(quick: bool) -> list[tuple[str, float]]:
    """Per-call cost of publishing state, each variant alternating two different values
    (so that every call writes) except the unchanged one."""
    n = 500 if quick else 3000
    repeats = 5 if quick else 15
    values = [tiles_value(0), tiles_value(1)]
    texts = [encode("tiles", v) for v in values]
    rows = []
    with Publisher("bench-state") as pub:
        pub.set_state("tiles", values[0])
        writer = pub._state["tiles"]

        def before() -> None:
            for i in range(n):
                data = json.dumps(values[i % 2], separators=(",", ":"),
                                  allow_nan=False).encode()
                write_as_before(writer, data)
        before()
        writer.last = None  # what write_as_before wrote is not what write() remembers

        def now() -> None:
            for i in range(n):
                pub.set_state("tiles", values[i % 2])

        def unchanged() -> None:
            for _ in range(n):
                pub.set_state("tiles", values[0])

        def pre_encoded() -> None:
            for i in range(n):
                pub.set_state_json("tiles", texts[i % 2])

        rows.append(("set_state, encoded as before", per_item(before, n, repeats)))
        rows.append(("set_state now", per_item(now, n, repeats)))
        rows.append(("set_state, value unchanged", per_item(unchanged, n, repeats)))
        rows.append(("set_state_json (pre-encoded)", per_item(pre_encoded, n, repeats)))
    value, data = values[0], texts[0]
    buf = bytearray(len(data))
    parts = [
        ("json.dumps as before", lambda: json.dumps(value, separators=(",", ":"),
                                                    allow_nan=False).encode()),
        ("encode() now (no circular check)", lambda: encode("tiles", value)),
        ("BLAKE2b check, as before", lambda: blake2b_check(7, data)),
        ("bytes_check now (CRC-32)", lambda: bytes_check(7, data)),
        ("copy into a buffer", lambda: buf.__setitem__(slice(None), data)),
    ]
    for name, fn in parts:
        rows.append((name, per_item(lambda fn=fn: [fn() for _ in range(n)], n, repeats)))
    return rows


def _thp(setting: str) -> str:
    """The kernel's transparent huge page setting (the bracketed word), or "n/a"."""
    try:
        text = Path(f"/sys/kernel/mm/transparent_hugepage/{setting}").read_text()
    except OSError:
        return "n/a"
    return text.split("[", 1)[1].split("]", 1)[0] if "[" in text else text.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller sizes")
    parser.add_argument("--only", default="records,arrays,read,state",
                        help="which parts to run (comma-separated)")
    args = parser.parse_args()
    quick, only = args.quick, set(args.only.split(","))
    print(f"Python {sys.version.split()[0]}, numpy {np.__version__}\n")

    if "records" in only:
        bench_records(quick)
    if "arrays" in only:
        print_arrays(quick)
    if "read" in only:
        print_read(quick)
    if "state" in only:
        print_state(quick)
    print(f"\n  load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def bench_records(quick: bool) -> None:
    rows = bench_append_extend(quick)
    t = dict(rows)
    print(f"{'per record':<48}{'median':>12}")
    for name, secs in rows:
        print(f"{name:<48}{secs * 1e6:>10.3f} µs")
    proxy = t["Manager().dict() proxy assignment"]
    append = t["webmon append (1 record)"]
    delivered = t["multiprocessing.Queue.put (until delivered)"]
    print(f"\n  proxy / append = {proxy / append:.1f}x   "
          f"proxy / extend = {proxy / t['webmon extend (batches of 1,000)']:.0f}x   "
          f"Queue(delivered) / append = {delivered / append:.1f}x")


def print_arrays(quick: bool) -> None:
    rows, ratios = bench_share_array(quick)
    nbytes = (16 if quick else 64) << 20
    print(f"\n{f'{nbytes >> 20} MiB array (CPU time, interleaved)':<56}{'median':>10}{'GB/s':>8}")
    for name, secs in rows:
        print(f"{name:<56}{secs * 1e3:>8.2f} ms{nbytes / secs / 1e9:>7.2f}")
    print(f"\n  share_array speed / plain copy's = {ratios['share/copy']:.2f}"
          f" (quartiles of the rounds {ratios['share/copy q1']:.2f} to "
          f"{ratios['share/copy q3']:.2f})\n"
          f"  share_array speed / a copy into 4 KiB pages = {ratios['share/copy 4k']:.2f}\n"
          f"  a copy into 4 KiB pages / plain copy = {ratios['copy 4k/copy']:.2f}\n"
          f"  Subscriber.array speed / plain copy's = {ratios['snapshot/copy']:.2f}")
    print(f"  transparent huge pages: private {_thp('enabled')}, shared memory "
          f"{_thp('shmem_enabled')}")


def print_read(quick: bool) -> None:
    rows, counts = bench_read(quick)
    print(f"\n{'Subscriber.read (reader CPU time)':<64}{'per record':>12}{'records/s':>14}")
    for name, secs in rows:
        print(f"{name:<64}{secs * 1e6:>9.3f} µs{1 / secs:>14,.0f}")
    print(f"  the producer wrote {counts['written per s']:,} records/s; the reader got "
          f"{counts['received']:,} and was told it lost {counts['lost']:,} "
          f"({counts['reads']:,} reads)")


def print_state(quick: bool) -> None:
    rows = bench_state(quick)
    nbytes = len(encode("tiles", tiles_value(0)))
    print(f"\n{f'state, {nbytes:,} bytes of JSON':<48}{'median':>12}")
    for name, secs in rows:
        print(f"{name:<48}{secs * 1e6:>10.2f} µs")
    t = dict(rows)
    print(f"\n  before / now = {t['set_state, encoded as before'] / t['set_state now']:.2f}x   "
          f"before / pre-encoded = "
          f"{t['set_state, encoded as before'] / t['set_state_json (pre-encoded)']:.1f}x   "
          f"BLAKE2b / CRC-32 = "
          f"{t['BLAKE2b check, as before'] / t['bytes_check now (CRC-32)']:.1f}x")


if __name__ == "__main__":
    main()
