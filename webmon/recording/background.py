"""Recordings started and stopped from the dashboard's Record button.

Each is a :class:`Recorder` on a thread of the dashboard's process: it starts recording the
moment the button is clicked (a ``webmon record`` process would first spend a second or more
importing), and its Parquet encoding releases the GIL.  The browser chooses nothing about the
files: they go into the one directory the dashboard was started with, named
``webmon-<producer>-<date>-<time>``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from webmon.shm import WebmonError, discover

from . import layout
from .errors import RecordingError
from .recorder import Recorder, default_path

log = logging.getLogger(__name__)

#: How long closing the dashboard waits for each recording to close its last part.
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RecordingStatus:
    """What the header says about one producer's recording."""

    path: str
    state: str  # "recording", "stopping", or how it ended: "complete", "producer-gone", "failed"
    elapsed: float
    records: int
    bytes: int
    message: str = ""

    @property
    def active(self) -> bool:
        return self.state in ("recording", "stopping")


class _Running:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.stopping = False
        self.failure = ""


class BackgroundRecordings:
    """The dashboard's recordings, one per producer (name and pid) at a time."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser().resolve()
        self._lock = threading.Lock()
        self._recordings: dict[tuple[str, int], _Running] = {}

    def start(self, name: str, pid: int) -> Path:
        """Start recording producer ``name@pid``; returns where it goes.  RecordingError
        (or WebmonError when the producer is gone) says why it could not start."""
        key = (name, pid)
        with self._lock:
            current = self._recordings.get(key)
            if current is not None and current.recorder.status == layout.RECORDING:
                return current.recorder.path
            info = next((i for i in discover() if i.name == name and i.pid == pid), None)
            if info is None:
                raise WebmonError(f"producer {name}@{pid} is not running")
            recorder = Recorder(self._new_path(name), info)
            recorder.start()
            self._recordings[key] = _Running(recorder)
            return recorder.path

    def _new_path(self, name: str) -> Path:
        base = self.directory / default_path(name).name
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        return path

    def stop(self, name: str, pid: int) -> None:
        """Ask the recording of ``name@pid`` to close (it does within a poll or two)."""
        with self._lock:
            running = self._recordings.get((name, pid))
        if running is not None:
            running.stopping = True
            running.recorder.request_stop()
            threading.Thread(target=self._join, args=(running,), daemon=True,
                             name="webmon-recording-stop").start()

    @staticmethod
    def _join(running: _Running) -> None:
        try:
            running.recorder.stop(STOP_TIMEOUT_S)
        except RecordingError as exc:
            running.failure = str(exc)
        except Exception as exc:  # reported in the header, never raised into the server
            log.exception("recording %s failed", running.recorder.path)
            running.failure = f"{type(exc).__name__}: {exc}"

    def status(self, name: str, pid: int) -> RecordingStatus | None:
        """The recording of ``name@pid`` (running, or the last one), or None."""
        with self._lock:
            running = self._recordings.get((name, pid))
        if running is None:
            return None
        progress = running.recorder.progress()
        state = progress.status
        if state == layout.RECORDING and running.stopping:
            state = "stopping"
        message = progress.reason if state == layout.FAILED else ""
        if running.failure and state != layout.RECORDING:
            state, message = layout.FAILED, running.failure
        return RecordingStatus(path=str(progress.path), state=state, elapsed=progress.elapsed,
                               records=progress.records, bytes=progress.bytes, message=message)

    def close(self) -> None:
        """Stop every recording and wait for each to close."""
        with self._lock:
            running = list(self._recordings.values())
        for item in running:
            item.recorder.request_stop()
        for item in running:
            if item.recorder.status == layout.RECORDING or item.stopping:
                self._join(item)
