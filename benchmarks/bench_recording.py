"""What recording costs: ``webmon record`` against a producer writing 200,000 records a second.

    python benchmarks/bench_recording.py [--rate 200000] [--seconds 60] [--quick]

A producer process appends ``chunk_loads`` records (the schema's 48-byte records, realistic
values) in batches every 10 ms into a ring of ``--capacity`` records (65,536 by default);
``webmon record`` records it, in a process of its own, for ``--seconds``.  Printed: records
written and recorded, records lost
(target 0), the recorder's CPU as a share of one core (user + system, from psutil; target
under half a core) beside the producer's own, bytes on disk per record and per hour, and how
much a SIGKILL would have lost (the records between the last closed part and the end).
``--quick`` runs 10 s.  The target is checked and said, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
BATCH_PERIOD_S = 0.01


def produce(name: str, rate: float, capacity: int) -> None:
    """The producer: ``rate`` chunk-load records a second into a ring of ``capacity``,
    until SIGTERM."""
    from webmon import Publisher
    from webmon.schema import CHUNK_DTYPE, CHUNK_LOADS

    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    rng = np.random.default_rng(1)
    pool = np.zeros(100_000, CHUNK_DTYPE)
    pool["layer"] = 1
    pool["level"] = rng.integers(0, 9, len(pool))
    pool["row"] = rng.integers(0, 256, len(pool))
    pool["col"] = rng.integers(0, 256, len(pool))
    pool["nbytes"] = 65536
    pool["load_ms"] = rng.gamma(2.0, 4.0, len(pool))
    pool["sync"] = rng.random(len(pool)) < 0.05
    pool["queued_ms"] = rng.gamma(1.0, 2.0, len(pool))
    with Publisher(name, app="bench-recording") as pub:
        stream = pub.stream(CHUNK_LOADS, CHUNK_DTYPE, capacity=capacity)
        print("READY", flush=True)
        start = time.monotonic()
        sent = 0
        while not stop:
            due = int((time.monotonic() - start) * rate)
            if due > sent:
                n = due - sent
                at = sent % (len(pool) - n) if n < len(pool) else 0
                batch = pool[at: at + n].copy()
                batch["time"] = time.time()
                stream.extend(batch)
                sent = due
            time.sleep(BATCH_PERIOD_S)
        print(json.dumps({"written": sent}), flush=True)


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200_000.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="record 10 s")
    parser.add_argument("--capacity", type=int, default=65536,
                        help="the producer's ring, in records (default 65,536: a third of a "
                             "second at 200,000 records/s)")
    parser.add_argument("--produce", metavar="NAME", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.produce:
        produce(args.produce, args.rate, args.capacity)
        return
    seconds = 10.0 if args.quick else args.seconds
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    runtime = tempfile.mkdtemp(prefix="bench-recording-run-")
    env["WEBMON_RUNTIME_DIR"] = runtime
    name = f"bench-rec-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="bench-recording-") as tmp:
        out = Path(tmp) / "rec"
        producer = subprocess.Popen([sys.executable, __file__, "--produce", name,
                                     "--rate", str(args.rate), "--capacity",
                                     str(args.capacity)], stdout=subprocess.PIPE,
                                    text=True, env=env)
        assert producer.stdout is not None
        if producer.stdout.readline().strip() != "READY":
            raise SystemExit("the producer did not start")
        recorder = subprocess.Popen([sys.executable, "-m", "webmon.cli", "record", "--producer",
                                     name, "-o", str(out), "--duration", str(seconds),
                                     "--quiet"], env=env)
        rec_proc, prod_proc = psutil.Process(recorder.pid), psutil.Process(producer.pid)
        while not (out / "manifest.json").exists() and recorder.poll() is None:
            time.sleep(0.05)  # the recorder's start (imports, attaching) is not its running cost
        t0 = time.monotonic()
        cpu0, pcpu0 = cpu_seconds(rec_proc), cpu_seconds(prod_proc)
        last_cpu = cpu0
        while recorder.poll() is None:
            try:
                last_cpu = cpu_seconds(rec_proc)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.2)
        wall = time.monotonic() - t0
        pcpu = cpu_seconds(prod_proc) - pcpu0
        producer.send_signal(signal.SIGTERM)
        producer.communicate(timeout=30)
        if recorder.returncode != 0:
            raise SystemExit(f"webmon record failed ({recorder.returncode})")
        manifest = json.loads((out / "manifest.json").read_text())
        entry = manifest["streams"]["chunk_loads"]
        span = entry["end_index"] - entry["first_index"]
        parts = sorted((out / entry["dir"]).glob("part-*.parquet"))
        sizes = [p.stat().st_size for p in parts]
        import pyarrow.parquet as pq

        rows = [pq.read_metadata(p).num_rows for p in parts]
        total_bytes = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())

    recorder_cpu = (last_cpu - cpu0) / wall
    print(f"recorded {seconds:g} s of a producer writing {args.rate:,.0f} records/s "
          f"(chunk_loads, 48 bytes each) into a ring of {args.capacity:,} "
          f"({args.capacity / args.rate:.2f} s); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    print(f"  written during the recording   {span:>14,} records "
          f"({span / seconds:,.0f}/s)")
    print(f"  recorded                       {entry['records']:>14,} records")
    print(f"  lost (target 0)                {entry['lost']:>14,}")
    print(f"  recorder CPU                   {recorder_cpu:>14.2f} cores "
          f"(target < 0.5; ratio to target {recorder_cpu / 0.5:.2f})")
    print(f"  producer CPU, for comparison   {pcpu / wall:>14.2f} cores")
    print(f"  parts                          {len(parts):>14,} "
          f"(median {int(np.median(rows)):,} records, {np.median(sizes) / 1e3:,.0f} kB)")
    print(f"  on disk                        {total_bytes / 1e6:>14.1f} MB = "
          f"{total_bytes / max(entry['records'], 1):.1f} bytes/record = "
          f"{total_bytes / seconds * 3600 / 1e9:.1f} GB/hour")
    print(f"  largest part (what a SIGKILL loses at most, in records)  {max(rows):,}")
    met = entry["lost"] == 0 and recorder_cpu < 0.5 and entry["records"] == span
    print("target met" if met else "TARGET NOT MET")


if __name__ == "__main__":
    main()
