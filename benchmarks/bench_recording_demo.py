"""The demo recorded: how much a recording of it takes per hour, and its report's size.

    python benchmarks/bench_recording_demo.py [--minutes 10]

Runs the demo producer (``python -m webmon.demo``), records it with ``webmon record`` for
``--minutes``, then writes its report with ``webmon report``.  Printed: bytes on disk by kind
(stream parts, state, arrays, the rest) and per hour, records and state changes per second,
the recorder's CPU beside the demo's own (psutil), and the report's size (target: at most
10 MB for ten minutes) and the time it took to write.  The target is said, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    seconds = args.minutes * 60.0
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "WEBMON_RUNTIME_DIR": tempfile.mkdtemp(prefix="bench-recording-demo-run-")}
    name = f"bench-demo-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="bench-recording-demo-") as tmp:
        out, report = Path(tmp) / "rec", Path(tmp) / "report.html"
        demo = subprocess.Popen([sys.executable, "-m", "webmon.demo", "--name", name], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(3.0)  # the demo's start (imports, first tiles) is not what is measured
            recorder = subprocess.Popen([sys.executable, "-m", "webmon.cli", "record",
                                         "--producer", name, "-o", str(out), "--duration",
                                         str(seconds), "--quiet"], env=env)
            rec_proc, demo_proc = psutil.Process(recorder.pid), psutil.Process(demo.pid)
            while not (out / "manifest.json").exists() and recorder.poll() is None:
                time.sleep(0.05)
            t0 = time.monotonic()
            cpu0, dcpu0 = cpu_seconds(rec_proc), cpu_seconds(demo_proc)
            last = cpu0
            while recorder.poll() is None:
                try:
                    last = cpu_seconds(rec_proc)
                except psutil.NoSuchProcess:
                    break
                time.sleep(0.5)
            wall = time.monotonic() - t0
            dcpu = cpu_seconds(demo_proc) - dcpu0
        finally:
            demo.terminate()
            demo.wait(30)
        if recorder.returncode != 0:
            raise SystemExit(f"webmon record failed ({recorder.returncode})")
        t1 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "webmon.cli", "report", str(out), "-o",
                               str(report)], env=env, capture_output=True, text=True)
        report_s = time.monotonic() - t1
        if done.returncode != 0:
            raise SystemExit(f"webmon report failed: {done.stderr}")
        manifest = json.loads((out / "manifest.json").read_text())
        parts = {"stream parts": size_of(out / "streams"), "state": size_of(out / "state"),
                 "arrays": size_of(out / "arrays")}
        total = size_of(out)
        parts["manifest and losses"] = total - sum(parts.values())
        report_bytes = report.stat().st_size
        duration = manifest["ended"] - manifest["started"]
        changes = sum(e["changes"] for e in manifest["state"].values())
        state_sizes = {key: size_of(out / e["file"]) for key, e in manifest["state"].items()}

    hour = 3600.0 / duration
    print(f"the demo recorded for {duration:.0f} s")
    print(f"  records            {manifest['records']:>10,} ({manifest['records'] / duration:,.0f}"
          f"/s), lost {manifest['lost']:,}")
    for stream, entry in manifest["streams"].items():
        print(f"    {stream:<16} {entry['records']:>10,} records in {entry['parts']:,} parts")
    print(f"  state changes      {changes:>10,} ({changes / duration:,.1f}/s)")
    print(f"  on disk            {total / 1e6:>10.1f} MB = {total * hour / 1e6:,.0f} MB/hour")
    for stream, entry in manifest["streams"].items():
        print(f"      stream {stream:<11} {entry['bytes'] * hour / 1e6:>7,.1f} MB/hour")
    for kind, size in parts.items():
        print(f"    {kind:<20} {size / 1e6:>8.2f} MB = {size * hour / 1e6:>7,.0f} MB/hour "
              f"({size / max(total, 1):.0%})")
    for key, size in sorted(state_sizes.items(), key=lambda kv: -kv[1]):
        print(f"      state {key:<12} {size * hour / 1e6:>7,.1f} MB/hour")
    print(f"  recorder CPU       {(last - cpu0) / wall:>10.3f} cores (the demo itself: "
          f"{dcpu / wall:.3f}; ratio {(last - cpu0) / max(dcpu, 1e-9):.2f})")
    target = 10e6 * duration / 600.0
    print(f"  report             {report_bytes / 1e6:>10.1f} MB in {report_s:.1f} s (target for "
          f"{duration / 60:.0f} min: at most 10 MB per 10 min; ratio to it "
          f"{report_bytes / 10e6:.2f})")
    print("target met" if report_bytes <= max(target, 10e6) else "TARGET NOT MET")


if __name__ == "__main__":
    main()
