"""Starting the test producer scripts as real separate processes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE), env.get("PYTHONPATH", "")])
    return env


@contextlib.contextmanager
def producer(mode: str, name: str, *args: object, python: str = sys.executable,
             timeout: float = 30.0) -> Iterator[subprocess.Popen]:
    """Run ``producer_proc.py`` and wait for its READY line; on exit close its stdin (it then
    closes its Publisher and exits) and wait, killing it only if it hangs."""
    proc = subprocess.Popen(
        [python, str(HERE / "producer_proc.py"), mode, name, *map(str, args)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env(),
    )
    try:
        line = proc.stdout.readline()
        if line.strip() != "READY":
            proc.kill()
            raise RuntimeError(f"producer did not start: {line!r} {proc.stderr.read()}")
        yield proc
    finally:
        if proc.poll() is None:
            try:
                proc.stdin.close()
                proc.wait(timeout=timeout)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            stream.close()


def run_python(code: str, python: str = sys.executable, timeout: float = 60.0
               ) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-c", code], capture_output=True, text=True,
                          env=child_env(), timeout=timeout)


def shm_names() -> set[str]:
    """Segment names present now (Linux exposes POSIX shared memory under /dev/shm)."""
    try:
        return set(os.listdir("/dev/shm"))
    except FileNotFoundError:
        return set()
