"""How often a reader still dies of SIGBUS when segments are truncated under it non-stop.

    python benchmarks/bench_shrink_window.py [--seconds 60]

A producer (the test producer's ``still`` kind, ``tests/producers/``) publishes a stream of
1,000 records and a state key, then only beats its heart. A reader process reads both as
fast as it can (the whole stream again each time, and the state value decoded anew) and
stamps its interest in the key, as the hub would if it ticked without pause. Meanwhile this
process truncates the stream's and the state key's segments to 0 bytes and back to their
size, over and over. Readers read through the segment's descriptor (``pread``/``preadv``),
which returns short on a shrunk segment instead of faulting; only a reader's stores (here
the interest stamp, in the control segment, which is not truncated) touch the mapping, after
an ``fstat``. Printed: reads, truncations, reads refused with a WebmonError, and whether the
reader died of SIGBUS (and after how many reads). The same reader reading the mapping
directly, as webmon did before, runs after it for comparison."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import child_env, producer  # noqa: E402

from webmon import discover  # noqa: E402
from webmon.shm.segment import SHM_DIR  # noqa: E402

READER = textwrap.dedent("""
    import sys, time
    from webmon import Subscriber, WebmonError
    from webmon.shm import segment
    if sys.argv[1] == "mapped":  # as before: everything read from the mapping
        Segment = segment.Segment
        Segment.check_size = lambda self: None
        Segment.read = lambda self, off, n: bytes(self.buf[off: off + n])
        Segment.read_into = lambda self, out, off: memoryview(out).cast("B").__setitem__(
            slice(None), self.buf[off: off + memoryview(out).nbytes])
        Segment._load = lambda self, off, code, kind, stable=True: self._cell(off, kind).value
    sub = Subscriber("still")
    reads = refused = 0
    stream = sub._streams["records"]
    until = time.monotonic() + float(sys.argv[2])
    print("READY", flush=True)
    while time.monotonic() < until:
        for read in (lambda: (setattr(stream, "cursor", 0), stream.read()),
                     lambda: (setattr(sub._state.get("config") or sub, "_cached", (0, None)),
                              sub.state("config")),
                     lambda: sub.want("config")):
            reads += 1
            try:
                read()
            except WebmonError:
                refused += 1
        if reads % 2000 == 0:
            print(reads, refused, flush=True)
    print(reads, refused, flush=True)
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    for variant in ("checked", "mapped"):
        with producer("still", "still"):  # a fresh one: truncating zeroed the last one's
            raw = next(i for i in discover() if i.name == "still").raw
            paths = [os.path.join(SHM_DIR, raw["streams"]["records"]["segment"]),
                     os.path.join(SHM_DIR, raw["state"]["config"]["segment"])]
            sizes = [os.stat(p).st_size for p in paths]
            reader = subprocess.Popen(
                [sys.executable, "-c", READER, variant, str(args.seconds)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
            assert reader.stdout.readline().strip() == "READY", reader.stderr.read()
            truncations = 0
            while reader.poll() is None:
                for path, size in zip(paths, sizes, strict=True):
                    os.truncate(path, 0)
                    os.truncate(path, size)
                    truncations += 1
                time.sleep(0.0005)
            lines = reader.stdout.read().split()
            reads, refused = (int(lines[-2]), int(lines[-1])) if len(lines) >= 2 else (0, 0)
            died = reader.returncode == -signal.SIGBUS
            print(f"{variant:>9}: {reads:,} reads, {truncations:,} truncations, {refused:,} "
                  f"refused with WebmonError, "
                  + (f"died of SIGBUS after about {reads:,} reads" if died
                     else f"survived (exit {reader.returncode})"), flush=True)


if __name__ == "__main__":
    main()
