"""The ``schema`` kind: webmon's schema as the dashboard's tabs read it.

    schema [--rate N] [--fps N] [--layer-name TEXT] [--app TEXT]

It publishes ``chunk_loads`` (``--rate`` records per second, each stamped with the time it
is appended), ``frame_times`` (``--fps``), the ``layers`` and ``loader`` state, and the
commands ``pause``, ``resume`` and ``set_concurrency``, which really change what it
publishes, and ``wait_for_go``, which answers ``"released"`` only once told "go" on stdin (and
meanwhile publishes the state ``holding``: true).
"""

from __future__ import annotations

import argparse
import time

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
from webmon.shm import Publisher

from . import Control


def run(kind: str, name: str, argv: list[str], control: Control) -> None:
    parser = argparse.ArgumentParser(prog=f"producers {kind} NAME")
    parser.add_argument("--rate", type=float, default=1000.0, help="chunk loads per second")
    parser.add_argument("--fps", type=float, default=60.0, help="frames per second")
    parser.add_argument("--layer-name", default="image")
    parser.add_argument("--app", default="dashboard-test-producer")
    args = parser.parse_args(argv)

    with Publisher(name, app=args.app) as pub:
        loads = pub.stream(CHUNK_LOADS, CHUNK_DTYPE, capacity=1 << 16)
        frames = pub.stream(FRAME_TIMES, FRAME_DTYPE, capacity=1 << 12)
        loader = {"paused": False, "concurrency": 4}
        pub.set_state(LAYERS, [{"id": 1, "name": args.layer_name, "type": "image",
                                "visible": True, "shape": [4096, 4096], "multiscale": True,
                                "data_level": 1}])
        pub.set_state(LOADER, loader)
        pub.set_state("holding", False)

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
        def wait_for_go() -> str:
            """Answer when told to, to show the dashboard keeps serving meanwhile."""
            control.go.clear()
            pub.set_state("holding", True)
            control.go.wait(60.0)
            pub.set_state("holding", False)
            return "released"

        pub.register_command("wait_for_go", wait_for_go)
        control.ready()

        start = time.time()
        sent_loads = 0
        sent_frames = 0
        last_frame = start
        while not control.stop.is_set():
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
