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
    """This environment (and so the test's private runtime directory), with this checkout and
    the test helpers importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), str(HERE), env.get("PYTHONPATH", "")) if p)
    return env


def stop_process(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Close the child's stdin (the test producers then close their Publisher and exit) and
    wait, killing it only if it hangs."""
    if proc.poll() is None:
        with contextlib.suppress(BrokenPipeError, OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def started_process(command: list[str], what: str, timeout: float = 15.0
                    ) -> Iterator[subprocess.Popen]:
    """Run ``command`` until the block ends, once it has printed its READY line."""
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=child_env(),
    )
    try:
        line = proc.stdout.readline()
        if line.strip() != "READY":
            proc.kill()
            raise RuntimeError(f"{what} did not start: {line!r} {proc.stderr.read()}")
        yield proc
    finally:
        stop_process(proc, timeout)


def producer(mode: str, name: str, *args: object, python: str = sys.executable,
             timeout: float = 30.0) -> contextlib.AbstractContextManager[subprocess.Popen]:
    """Run ``producer_proc.py MODE NAME ARGS`` (see that script) as a separate process."""
    return started_process(
        [python, str(HERE / "producer_proc.py"), mode, name, *map(str, args)],
        "producer", timeout)


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
