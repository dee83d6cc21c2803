"""Helpers for the dashboard's tests and benchmarks: producer processes, waiting, Chromium."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from browser_util import CHROMIUM, CHROMIUM_ARGS, IN_CI  # noqa: F401 (re-exported)
from procs import child_env, started_process, stop_process  # noqa: F401 (re-exported)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PRODUCER_SCRIPT = HERE / "dashboard_producer.py"

T = TypeVar("T")


@contextlib.contextmanager
def producer(name: str, *args: str) -> Iterator[subprocess.Popen]:
    """Run ``dashboard_producer.py NAME ARGS`` until the block ends (then close its stdin,
    so it closes its Publisher and exits)."""
    with started_process([sys.executable, str(PRODUCER_SCRIPT), name, *args],
                         f"producer {name!r}") as proc:
        yield proc


def require_jupyterlab() -> None:
    """Skip without JupyterLab (the test extra installs it); under CI, fail instead."""
    import importlib.util

    if importlib.util.find_spec("jupyterlab") is None:
        message = "JupyterLab is not installed (pip install -e '.[test]' installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05,
               message: str = "condition") -> T:
    """Poll ``predicate`` until it returns something true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached within {timeout} s")
        time.sleep(interval)


class CommandProcess:
    """``webmon ...`` in a subprocess, its output collected by a thread."""

    URL = re.compile(r"webmon dashboard at (http://\S+)")

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "webmon.cli", *args], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env={**child_env(), **(env or {})},
            stdin=subprocess.DEVNULL,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def url(self, timeout: float = 60.0) -> str:
        def found() -> str | None:
            match = self.URL.search(self.output)
            if match is None and self.proc.poll() is not None:
                raise AssertionError(f"webmon exited ({self.proc.returncode}):\n{self.output}")
            return match.group(1) if match else None

        return wait_until(found, timeout, message="dashboard URL printed")

    def terminate(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"webmon did not stop on SIGTERM:\n{self.output}") from None
        self._reader.join(timeout=5)
        return code

    def __enter__(self) -> CommandProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:
            self.terminate()


def chromium_or_skip() -> str:
    """The Chromium to drive, or skip the test (fail instead under CI=true)."""
    import pytest

    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing and CI=true: browser tests must run in CI")
        pytest.skip(f"{CHROMIUM} is not installed")
    return CHROMIUM
