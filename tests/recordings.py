"""Recordings for the report tests: the demo recorded by ``webmon record`` (real), and a long
one written directly with the recording's writer from generated records (to test sizes and
decimation without waiting ten minutes; its records are test input, not measurements)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from helpers import child_env

from webmon.recording import layout
from webmon.recording.writer import RecordingWriter
from webmon.schema import CHUNK_DTYPE, CHUNK_LOADS, FRAME_DTYPE, FRAME_TIMES, LAYERS, TILES


def record_demo(out: Path, seconds: float, name: str = "recdemo") -> None:
    """Run the demo producer and ``webmon record --duration seconds`` on it."""
    env = child_env()
    demo = subprocess.Popen([sys.executable, "-m", "webmon.demo", "--name", name], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        from webmon import discover

        while not any(i.name == name for i in discover()):
            if time.monotonic() > deadline or demo.poll() is not None:
                raise RuntimeError("the demo producer did not start")
            time.sleep(0.1)
        result = subprocess.run([sys.executable, "-m", "webmon.cli", "record", "--producer",
                                 name, "-o", str(out), "--duration", str(seconds), "--quiet"],
                                capture_output=True, text=True, env=env, timeout=seconds + 120)
        assert result.returncode == 0, result.stderr
    finally:
        demo.terminate()
        demo.wait(30)


def tiles_entry(level: int) -> dict:
    shapes = [[65536 >> k, 65536 >> k] for k in range(9)]
    return {"layer": "procedural", "tile_config": {
        "base_shape": shapes[0], "level_shapes": shapes, "level_index": level,
        "image_shape": shapes[level], "shape_in_tiles": [shapes[level][0] // 256] * 2,
        "tile_size": 256},
        "tile_state": {"seen": [[1, 1], [1, 2]], "loading": [[2, 2]],
                       "loaded": [[1, 1], [3, 3]], "corners": [[256 << level, 256 << level],
                                                              [768 << level, 900 << level]]}}


def write_long_recording(out: Path, seconds: float = 600.0, loads_per_s: float = 500.0,
                         fps: float = 60.0, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A recording of ``seconds`` with generated frames and loads (the demo's schema); returns
    ``(frames, loads)`` as written."""
    rng = np.random.default_rng(seed)
    end = time.time()
    start = end - seconds
    frames = np.zeros(int(seconds * fps), FRAME_DTYPE)
    frames["time"] = start + np.arange(len(frames)) / fps
    frames["delta_ms"] = 1000.0 / fps + rng.gamma(1.0, 1.5, len(frames))
    stalls = rng.choice(len(frames), 40, replace=False)
    frames["delta_ms"][stalls] = rng.uniform(60, 900, len(stalls))
    loads = np.zeros(int(seconds * loads_per_s), CHUNK_DTYPE)
    loads["time"] = np.sort(rng.uniform(start, end, len(loads)))
    loads["layer"] = 1
    loads["level"] = rng.integers(0, 6, len(loads))
    loads["row"] = rng.integers(0, 64, len(loads))
    loads["col"] = rng.integers(0, 64, len(loads))
    loads["nbytes"] = 65536
    loads["load_ms"] = rng.gamma(2.0, 5.0, len(loads))
    loads["sync"] = rng.random(len(loads)) < 0.02
    loads["queued_ms"] = rng.gamma(1.0, 3.0, len(loads))
    writer = RecordingWriter(out, {"name": "generated", "pid": 1, "app": "generated test input",
                                   "started": start, "commands": []})
    writer.manifest["started"] = start
    writer.add_stream(FRAME_TIMES, FRAME_DTYPE, 65536, 0)
    writer.add_stream(CHUNK_LOADS, CHUNK_DTYPE, 65536, 0)
    writer.add_state(LAYERS, [{"id": 1, "name": "procedural", "type": "image"}], 1, start)
    for second in range(int(seconds)):
        t = start + second + 1
        for name, records in ((FRAME_TIMES, frames), (CHUNK_LOADS, loads)):
            lo, hi = np.searchsorted(records["time"], [t - 1, t])
            writer.add_records(name, records[lo:hi], lo, hi, 0, t)
        if second % 5 == 0:
            writer.add_state(TILES, {"1": tiles_entry(second % 6)}, second + 1, t)
        if second % 60 == 59:
            writer.flush()
    writer.close(layout.COMPLETE, "generated")
    return frames, loads
