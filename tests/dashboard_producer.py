"""A small producer of webmon's schema, run as a separate process by the dashboard's tests
and benchmarks.

    python dashboard_producer.py NAME [--rate N] [--fps N] [--layer-name TEXT] [--app TEXT]

It publishes ``chunk_loads`` (``--rate`` records per second, each stamped with the time it is
appended), ``frame_times`` (``--fps``), the ``layers`` and ``loader`` state, and the commands
``pause``, ``resume`` and ``set_concurrency``, which really change what it publishes, and
``wait`` (sleeps, then replies).  It
prints ``READY`` once published and stops (closing its Publisher) when stdin reaches EOF or on
SIGTERM.  Its records are synthetic: they exercise the dashboard, they measure nothing.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from webmon import Publisher
from webmon.schema import (
    CHUNK_DTYPE,
    CHUNK_LOADS,
    CMD_PAUSE,
    CMD_RESUME,
    CMD_SET_CONCURRENCY,
    FRAME_DTYPE,
    FRAME_TIMES,
    LAYERS,
    LOADER,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--rate", type=float, default=1000.0, help="chunk loads per second")
    parser.add_argument("--fps", type=float, default=60.0, help="frames per second")
    parser.add_argument("--layer-name", default="image")
    parser.add_argument("--app", default="dashboard-test-producer")
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()

    with Publisher(args.name, app=args.app) as pub:
        loads = pub.stream(CHUNK_LOADS, CHUNK_DTYPE, capacity=1 << 16)
        frames = pub.stream(FRAME_TIMES, FRAME_DTYPE, capacity=1 << 12)
        loader = {"paused": False, "concurrency": 4}
        pub.set_state(LAYERS, [{"id": 1, "name": args.layer_name, "type": "image",
                                "visible": True, "shape": [4096, 4096], "multiscale": True,
                                "data_level": 1}])
        pub.set_state(LOADER, loader)

        def set_paused(paused: bool) -> dict:
            loader["paused"] = paused
            pub.set_state(LOADER, loader)
            return dict(loader)

        def set_concurrency(workers: int) -> dict:
            if not 1 <= int(workers) <= 64:
                raise ValueError(f"workers must be between 1 and 64, not {workers}")
            loader["concurrency"] = int(workers)
            pub.set_state(LOADER, loader)
            return dict(loader)

        pub.register_command(CMD_PAUSE, lambda: set_paused(True))
        pub.register_command(CMD_RESUME, lambda: set_paused(False))
        pub.register_command(CMD_SET_CONCURRENCY, set_concurrency)
        # A command that takes a while, to show the dashboard keeps serving meanwhile.
        pub.register_command("wait", lambda seconds: time.sleep(float(seconds)) or "waited")
        print("READY", flush=True)

        start = time.time()
        sent_loads = 0
        sent_frames = 0
        last_frame = start
        while not stop.is_set():
            now = time.time()
            due = int((now - start) * args.rate)
            if loader["paused"]:
                sent_loads = due  # nothing loads while paused; do not catch up afterwards
            while sent_loads < due:
                i = sent_loads
                level = i % 3
                sync = 1 if i % 10 == 0 else 0
                loads.append((time.time(), 1, level, i % 16, (i // 16) % 16,
                              65536 >> level, 2.0 + (i % 7) + 5.0 * sync, sync, 0.5))
                sent_loads += 1
            frames_due = int((now - start) * args.fps)
            while sent_frames < frames_due:
                frames.append((now, (now - last_frame) * 1000.0))
                last_frame = now
                sent_frames += 1
            pub.poll()
            time.sleep(0.001)


if __name__ == "__main__":
    main()
