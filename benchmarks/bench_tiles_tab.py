"""What the tiles tab costs the server per update, for the tiles states a producer sends.

    python benchmarks/bench_tiles_tab.py [--repeat 40]

A Publisher in this process publishes a ``tiles`` state for a 65,536 x 65,536 image in
256-pixel tiles (nine levels, as the demo's), and a Hub follows it through shared memory, as
the dashboard does.  For each case the state changes ``--repeat`` times (the tiles in view
shift by one); after each change the hub ticks (reading and decoding the state) and the tab's
session updates (building the viewer's inputs and setting them); then the change is
serialised as the Bokeh server would send it (one ``PATCH-DOC`` message).  Printed: median
milliseconds of each step, the message's bytes, and the ratio of the tab's update with a new
state to an update with nothing new, measured side by side.  Nothing is asserted.

Cases: the producer at level 3 (32 x 32 tiles: 42 in view, 80 loaded); at level 0 (256 x 256
tiles: 1,000 in view, 2,048 loaded, the demo's cache size); and level 0 picked in the tab
while the producer draws level 3, with 100,000 chunk loads in the hub's history (the first
update reads them all; later ones only the new).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bokeh.document import Document  # noqa: E402
from bokeh.protocol import Protocol  # noqa: E402

BASE = 65536
TILE = 256
LEVELS = 9
HISTORY = 100_000


def tiles_state(level: int, seen: tuple[int, int], loaded: int, shift: int) -> dict[str, Any]:
    """A state with a ``seen`` block of rows x cols tiles moved ``shift`` tiles right, and
    ``loaded`` other tiles of the level."""
    side = BASE // 2**level
    n = side // TILE
    rows, cols = seen
    r0, c0 = n // 4, (n // 4 + shift) % max(n - cols, 1)
    in_view = [[r, c] for r in range(r0, r0 + rows) for c in range(c0, c0 + cols)]
    rng = np.random.default_rng(level)
    flat = rng.choice(n * n, size=min(loaded, n * n), replace=False)
    cached = [[int(i // n), int(i % n)] for i in flat]
    scale = 2**level * TILE
    return {"1": {
        "layer": "procedural",
        "tile_config": {
            "base_shape": [BASE, BASE],
            "level_shapes": [[BASE >> k, BASE >> k] for k in range(LEVELS)],
            "level_index": level, "image_shape": [side, side], "shape_in_tiles": [n, n],
            "tile_size": TILE},
        "tile_state": {
            "seen": in_view, "loading": in_view[:4],
            "loaded": [t for t in cached if t not in in_view[:4]],
            "corners": [[r0 * scale, c0 * scale], [(r0 + rows) * scale, (c0 + cols) * scale]]},
    }}


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


class Bench:
    def __init__(self, pub: Any, hub: Any) -> None:
        from webmon.apps import tiles
        from webmon.server import Session

        self.pub, self.hub = pub, hub
        self.doc = Document()
        self.session = Session(hub, self.doc, "bench-tiles")
        self.doc.add_root(tiles.build(self.session))
        self.events: list[Any] = []
        self.doc.on_change(lambda event: self.events.append(event))
        self.protocol = Protocol()

    def step(self, state: dict | None) -> tuple[float, float, float, int]:
        """Publish ``state`` (None: nothing new), tick, update, serialise."""
        if state is not None:
            self.pub.set_state("tiles", state)
        t0 = time.perf_counter()
        self.hub.tick()
        t1 = time.perf_counter()
        self.events.clear()
        self.session.update()
        t2 = time.perf_counter()
        size = 0
        if self.events:
            message = self.protocol.create("PATCH-DOC", self.events)
            size = len(message.header_json) + len(message.content_json) + sum(
                buffer.data.nbytes for buffer in message.buffers)
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2, size

    def measure(self, make: Callable[[int], dict | None], repeat: int
                ) -> tuple[float, float, float, int]:
        ticks, updates, serialise, sizes = [], [], [], []
        for i in range(repeat):
            tick, update, ser, size = self.step(make(i))
            ticks.append(tick)
            updates.append(update)
            serialise.append(ser)
            sizes.append(size)
        return (median_ms(ticks), median_ms(updates), median_ms(serialise),
                int(statistics.median(sizes)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()

    runtime = tempfile.mkdtemp(prefix="webmon-bench-tiles-")
    os.chmod(runtime, 0o700)
    os.environ["WEBMON_RUNTIME_DIR"] = runtime

    from webmon import Publisher
    from webmon.schema import CHUNK_DTYPE, CHUNK_LOADS
    from webmon.server import Hub

    with Publisher("bench-tiles", app="bench") as pub:
        pub.reserve_state("tiles", 1 << 20)
        loads = pub.stream(CHUNK_LOADS, CHUNK_DTYPE, capacity=1 << 17)
        hub = Hub(interval=0.1, discover_interval=0.0, history=HISTORY)
        try:
            hub.tick()
            bench = Bench(pub, hub)
            bench.step(tiles_state(3, (6, 7), 80, 0))
            bench.step(None)  # the hub reads the key once it is asked for

            rows = []
            idle = bench.measure(lambda i: None, args.repeat)
            rows.append(("nothing new", idle))
            rows.append(("level 3: 42 in view, 80 loaded",
                         bench.measure(lambda i: tiles_state(3, (6, 7), 80, i + 1),
                                       args.repeat)))
            rows.append(("level 0: 1,000 in view, 2,048 loaded",
                         bench.measure(lambda i: tiles_state(0, (25, 40), 2048, i + 1),
                                       args.repeat)))

            # Level 0 picked while the producer draws level 3, loads in the history.
            rng = np.random.default_rng(0)
            records = np.zeros(HISTORY, CHUNK_DTYPE)
            records["time"] = time.time()
            records["layer"] = 1
            records["level"] = rng.integers(0, 4, HISTORY)
            records["row"] = rng.integers(0, 256, HISTORY)
            records["col"] = rng.integers(0, 256, HISTORY)
            loads.extend(records)
            bench.step(tiles_state(3, (6, 7), 80, 0))
            bench.session.update()
            first = bench.measure(lambda i: None, 1)  # nothing read yet: the cursor lags
            level = bench.doc.get_model_by_name("tiles-level")
            t0 = time.perf_counter()
            level.value = "0"  # reads the 100,000 loads, draws the level's known tiles
            first_pick = (time.perf_counter() - t0) * 1000.0
            del first
            rows.append(("level 0 picked, producer at 3",
                         bench.measure(lambda i: tiles_state(3, (6, 7), 80, i + 1),
                                       args.repeat)))
        finally:
            hub.stop()

    print(f"tiles tab, one session; medians of {args.repeat} updates (ms)\n")
    print(f"{'case':<40} {'hub tick':>9} {'tab update':>11} {'serialise':>10} "
          f"{'message':>10} {'update / nothing new':>21}")
    for name, (tick, update, ser, size) in rows:
        print(f"{name:<40} {tick:>9.3f} {update:>11.3f} {ser:>10.3f} {size:>9,}B "
              f"{update / idle[1]:>20.1f}x")
    print(f"\npicking level 0 with {HISTORY:,} loads in the history (first read of them "
          f"all): {first_pick:.1f} ms")


if __name__ == "__main__":
    main()
