"""Starting ``webmon dashboard`` in the background and finding its address.

The dock widget uses this; it needs neither Qt nor napari.  The dashboard runs as a child
process (``python -m webmon.cli dashboard --port 0``: the OS picks a free port) and prints
its address; the first ``http://`` URL in its output is taken as the dashboard's URL.
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

URL_PATTERN = re.compile(r"http://[^\s\"'<>]+")
#: Lines of the dashboard's output kept, to explain a failure to start.
OUTPUT_LINES_KEPT = 50


def dashboard_command() -> list[str]:
    return [sys.executable, "-m", "webmon.cli", "dashboard", "--port", "0"]


def find_url(text: str) -> str | None:
    """The first ``http://`` URL in ``text``, without trailing punctuation."""
    match = URL_PATTERN.search(text)
    return match.group(0).rstrip(".,;:)]") if match else None


class DashboardProcess:
    """One ``webmon dashboard`` child process.

    ``start()`` launches it; a thread reads its output (all of it, so the child never
    blocks on a full pipe), sets :attr:`url` from the first URL and calls ``on_url`` from
    that thread, and ``on_exit`` (from that thread too) when the process's output ends.
    ``stop()`` ends it (SIGTERM, then SIGKILL if it hangs).
    """

    def __init__(self, command: Sequence[str] | None = None,
                 on_url: Callable[[str], None] | None = None,
                 on_exit: Callable[[], None] | None = None) -> None:
        self.command = list(command) if command is not None else dashboard_command()
        self.on_url = on_url
        self.on_exit = on_exit
        self.url: str | None = None
        self.proc: subprocess.Popen | None = None
        self.output: collections.deque[str] = collections.deque(maxlen=OUTPUT_LINES_KEPT)
        self._url_found = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self.url = None
        self._url_found.clear()
        self.output.clear()
        env = dict(os.environ)
        # The child must import the same webmon as this process, installed or not.
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH"))
                                            if p)
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1, env=env,
        )
        self._reader = threading.Thread(target=self._read, args=(self.proc,),
                                        name="webmon-dashboard-output", daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.output.append(line.rstrip("\n"))
            if self.url is None:
                url = find_url(line)
                if url is not None:
                    self.url = url
                    self._url_found.set()
                    self._notify(self.on_url, url)
        proc.stdout.close()
        self._url_found.set()  # the process ended: wake waiters, url may still be None
        self._notify(self.on_exit)

    @staticmethod
    def _notify(callback: Callable[..., None] | None, *args: str) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except RuntimeError:
            pass  # the receiver (a Qt widget) was deleted while the dashboard ran

    def wait_url(self, timeout: float) -> str | None:
        """The dashboard's URL, waiting up to ``timeout`` seconds; None if it did not start
        (see :attr:`output`)."""
        self._url_found.wait(timeout)
        return self.url

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(timeout)
            self._reader = None
