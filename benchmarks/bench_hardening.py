"""What the hardening of issue 16 costs on the paths that run all the time.

    python benchmarks/bench_hardening.py [--quick]

Each pair is measured in one run, the two variants alternating, medians of the repeats:

* a reader that never touches the mapping (headers, counters and data through ``pread``
  and ``preadv``, a counter read until two reads agree) against one reading the mapping
  directly, as webmon did before: a hub-sized ``Subscriber.read`` of 10 new records, a
  full 65,536-record ring, an unchanged state key (what the hub asks every tick), and the
  heartbeat (``Subscriber.alive``);
* ``set_state_json`` of a tiles value (570 loaded tiles, 12 KB of JSON, more opening
  brackets than the depth limit, so it is scanned) with and without the nesting check,
  and ``set_state`` of the same value;
* a hub's tick following a producer whose state key a session asks for, with that key's
  segment damaged (a flipped magic byte: the key is marked unreadable, tried again every
  5 s, logged once a minute) against the same producer with the key intact.

The producer runs in this process, so no other process competes; nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from bench_transport import tiles_value  # noqa: E402
from faults import damage_magic  # noqa: E402

from webmon import Publisher, Subscriber  # noqa: E402
from webmon.schema import CHUNK_DTYPE  # noqa: E402
from webmon.server import Hub  # noqa: E402
from webmon.shm import segment, state  # noqa: E402
from webmon.shm.state import encode  # noqa: E402


@contextlib.contextmanager
def mapped_reads() -> Iterator[None]:
    """Readers read the mapping directly, as before."""
    cls = segment.Segment
    saved = {name: cls.__dict__[name] for name in ("read", "read_into", "_load")}
    cls.read = lambda self, off, n: bytes(self.buf[off: off + n])
    cls.read_into = lambda self, out, off: memoryview(out).cast("B").__setitem__(
        slice(None), self.buf[off: off + memoryview(out).nbytes])
    cls._load = lambda self, off, code, kind, stable=True: self._cell(off, kind).value
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(cls, name, fn)


@contextlib.contextmanager
def no_depth_check() -> Iterator[None]:
    saved = state.check_json_depth
    state.check_json_depth = lambda *args, **kwargs: None
    try:
        yield
    finally:
        state.check_json_depth = saved


def per_call(fn: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def pair(fn: Callable[[], object], variant: Callable[[], contextlib.AbstractContextManager],
         n: int, repeats: int) -> tuple[float, float]:
    """Median seconds per call of ``fn`` as it is, and inside ``variant()``, alternating."""
    now, before = [], []
    for _ in range(repeats):
        now.append(per_call(fn, n))
        with variant():
            before.append(per_call(fn, n))
    return statistics.median(now), statistics.median(before)


def hub_ticks(n: int, repeats: int) -> tuple[float, float]:
    """Median seconds per hub tick with a state key of interest damaged, and intact."""
    with Publisher("bench-intact") as intact, Publisher("bench-damaged") as damaged:
        for pub in (intact, damaged):
            pub.stream("chunk_loads", CHUNK_DTYPE, capacity=4096).extend(
                np.zeros(100, CHUNK_DTYPE))
            pub.set_state("config", {"levels": [1, 2, 4]})
        with Subscriber("bench-damaged") as sub:
            damage_magic(sub.info.raw["state"]["config"]["segment"])
        hubs = {name: Hub(producer=name, discover_interval=3600.0)
                for name in ("bench-damaged", "bench-intact")}
        try:
            def tick(hub: Hub) -> Callable[[], None]:
                feed = hub.feeds()[0]

                def one() -> None:
                    feed.state("config")  # a session asks for the key every tick
                    hub.tick()
                return one

            for hub in hubs.values():
                hub.tick()  # discovers its producer
            ticks = {name: tick(hub) for name, hub in hubs.items()}
            for one in ticks.values():
                one()
            assert "config" in hubs["bench-damaged"].feeds()[0].unreadable()
            assert not hubs["bench-intact"].feeds()[0].unreadable()
            damaged_s, intact_s = [], []
            for _ in range(repeats):
                damaged_s.append(per_call(ticks["bench-damaged"], n))
                intact_s.append(per_call(ticks["bench-intact"], n))
            return statistics.median(damaged_s), statistics.median(intact_s)
        finally:
            for hub in hubs.values():
                hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    n, repeats = (300, 5) if quick else (2000, 15)
    rows: list[tuple[str, float, float]] = []
    with Publisher("bench-hardening") as pub:
        loads = pub.stream("chunk_loads", CHUNK_DTYPE, capacity=65536)
        batch = np.zeros(10, CHUNK_DTYPE)
        full = np.zeros(65536, CHUNK_DTYPE)
        pub.set_state("layers", [{"name": "image", "visible": True}])
        with Subscriber("bench-hardening") as sub:
            def hub_read() -> None:
                loads.extend(batch)
                sub.read("chunk_loads")

            def full_read() -> None:
                loads.extend(full)
                sub._stream("chunk_loads").cursor = loads.written() - 65536
                sub.read("chunk_loads")

            sub.read("chunk_loads")
            sub.state("layers")
            rows.append(("Subscriber.read of 10 new records", *pair(
                hub_read, mapped_reads, n, repeats)))
            rows.append(("Subscriber.read of a full 65,536-record ring", *pair(
                full_read, mapped_reads, max(10, n // 100), repeats)))
            rows.append(("Subscriber.state of an unchanged key", *pair(
                lambda: sub.state("layers"), mapped_reads, n, repeats)))
            rows.append(("Subscriber.alive (pid and heartbeat)", *pair(
                lambda: sub.alive, mapped_reads, n, repeats)))
        value = [tiles_value(0), tiles_value(1)]
        texts = [encode("tiles", v) for v in value]
        pub.reserve_state("tiles", 1 << 16)
        flip = iter(range(10**9))
        rows.append((f"set_state_json, tiles ({len(texts[0]):,} bytes)", *pair(
            lambda: pub.set_state_json("tiles", texts[next(flip) % 2]), no_depth_check,
            n, repeats)))
        rows.append(("set_state, tiles", *pair(
            lambda: pub.set_state("tiles", value[next(flip) % 2]), no_depth_check,
            n // 4, repeats)))
    rows.append(("Hub.tick, a wanted key damaged (before: intact)",
                 *hub_ticks(n, repeats)))
    print(f"Python {sys.version.split()[0]}, numpy {np.__version__}; medians of {repeats}\n")
    print(f"{'per call':<50}{'now':>12}{'before':>12}{'ratio':>8}")
    for name, now, before in rows:
        print(f"{name:<50}{now * 1e6:>9.2f} µs{before * 1e6:>9.2f} µs{now / before:>8.2f}")
    print("\n(before: reads from the mapping; for set_state: without the nesting check; "
          "for Hub.tick: the key intact)")


if __name__ == "__main__":
    main()
