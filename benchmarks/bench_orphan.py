"""How soon the demo's producer ends once ``webmon demo`` is gone, beside a plain SIGTERM.

    python benchmarks/bench_orphan.py [--repeats N]

``webmon demo`` starts its producer with the read end of a pipe whose write end only the
dashboard holds (``webmon.cli.start_demo_producer``).  However the dashboard ends, SIGKILL
included, the kernel closes that write end; here this process closes it itself, which is the
same event for the child.  Each repeat starts two demo producers and, alternating which goes
first, lets each draw and load for two seconds, then ends one by closing its lifeline and
the other with SIGTERM (how ``webmon demo`` stops it normally), timing each from that moment
until the process has exited.  Issue 16's bound is 2 s for the orphan.  Nothing is
asserted; the test suite checks only that it ends.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def stop_time(proc, how: str) -> float:
    """Seconds from closing the lifeline (``how="lifeline"``) or sending SIGTERM until the
    process has exited."""
    started = time.perf_counter()
    if how == "lifeline":
        os.close(proc.lifeline)
        proc.lifeline = None
    else:
        proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=STOP_TIMEOUT_S)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds each producer runs (frames, tile loads) before it ends")
    args = parser.parse_args()
    runtime = tempfile.mkdtemp(prefix="webmon-bench-orphan-")
    os.chmod(runtime, 0o700)
    os.environ["WEBMON_RUNTIME_DIR"] = runtime

    from webmon.cli import start_demo_producer, stop_producer, wait_for_producer

    times: dict[str, list[float]] = {"lifeline": [], "sigterm": []}
    for repeat in range(args.repeats):
        order = ("lifeline", "sigterm") if repeat % 2 == 0 else ("sigterm", "lifeline")
        for how in order:
            name = f"orphan-bench-{how}-{repeat}"
            proc = start_demo_producer(name)
            try:
                if not wait_for_producer(name, proc, START_TIMEOUT_S):
                    raise SystemExit(f"the demo producer {name} did not start")
                time.sleep(args.settle)  # drawing and loading, as in use
                times[how].append(stop_time(proc, how))
            finally:
                stop_producer(proc)  # only if it is still there; closes what is left
        print(f"repeat {repeat + 1}: lifeline closed {times['lifeline'][-1] * 1000:7.1f} ms, "
              f"SIGTERM {times['sigterm'][-1] * 1000:7.1f} ms", flush=True)

    orphan = statistics.median(times["lifeline"])
    term = statistics.median(times["sigterm"])
    print(f"\nmedian over {args.repeats} repeats (load average {os.getloadavg()[0]:.1f}):")
    print(f"  producer ends after its dashboard died: {orphan * 1000:7.1f} ms "
          f"(max {max(times['lifeline']) * 1000:.1f} ms; bound 2000 ms)")
    print(f"  producer ends on SIGTERM:               {term * 1000:7.1f} ms")
    print(f"  ratio orphan / SIGTERM:                 {orphan / term:7.2f}")


if __name__ == "__main__":
    main()
