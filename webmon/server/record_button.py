"""The Record button of the tab bar: records the producer a tab shows, and says where the
recording goes and how it is going.

The server knows nothing of how recordings are made: the dashboard is handed a
:class:`Recordings` service (the command line gives it ``webmon.recording``'s, which records
on a thread of the dashboard's process) and the button calls it.  Every tab showing the same
producer shows the same recording.
"""

from __future__ import annotations

from typing import Any, Protocol

from bokeh.layouts import row
from bokeh.models import Button, Div

from .session import Session
from .text import escape, format_duration

RECORD_LABEL = "● Record"
STOP_LABEL = "■ Stop recording"


class RecordingStatus(Protocol):
    path: str
    state: str
    elapsed: float
    records: int
    bytes: int
    message: str

    @property
    def active(self) -> bool: ...


class Recordings(Protocol):
    """What the Record button needs (``webmon.recording.background.BackgroundRecordings``)."""

    def start(self, name: str, pid: int) -> Any: ...

    def stop(self, name: str, pid: int) -> None: ...

    def status(self, name: str, pid: int) -> RecordingStatus | None: ...

    def close(self) -> None: ...


def describe(status: RecordingStatus | None) -> str:
    """One line of HTML (escaped) about a recording."""
    if status is None:
        return ""
    path = escape(status.path)
    figures = (f"{format_duration(status.elapsed)} · {status.records:,} records · "
               f"{status.bytes / 1e6:.1f} MB")
    if status.state == "recording":
        return f"recording to <code>{path}</code> · {figures}"
    if status.state == "stopping":
        return f"closing <code>{path}</code>…"
    if status.state == "failed":
        return (f"<span style='color:#ff8a80'>recording failed: {escape(status.message)}"
                f"</span> (kept in <code>{path}</code>)")
    gone = " (the producer exited)" if status.state == "producer-gone" else ""
    return f"saved <code>{path}</code>{gone} · {figures}"


class RecordButton:
    """Starts and stops the recording of the producer a session shows."""

    def __init__(self, session: Session, recordings: Recordings) -> None:
        self.session = session
        self.recordings = recordings
        self.button = Button(label=RECORD_LABEL, name="webmon-record-button", width=130,
                             button_type="danger", stylesheets=[":host { margin: 0; }"])
        self.note = Div(text="", name="webmon-record-note", stylesheets=[
            ":host { margin: 0 0 0 0.6em; color: #ddd; font-size: 0.85em; }"])
        self.root = row(self.button, self.note, name="webmon-record",
                        stylesheets=[":host { margin: 0; }"])
        self.button.on_click(self._click)

    def _producer(self) -> tuple[str, int] | None:
        feed = self.session.feed
        return (feed.name, feed.pid) if feed is not None else None

    def update(self) -> None:
        producer = self._producer()
        feed = self.session.feed
        status = self.recordings.status(*producer) if producer is not None else None
        active = status is not None and status.active
        label = STOP_LABEL if active else RECORD_LABEL
        if self.button.label != label:
            self.button.label = label
        disabled = not active and (feed is None or not feed.alive)
        if self.button.disabled != disabled:
            self.button.disabled = disabled
        text = describe(status)
        if self.note.text != text:
            self.note.text = text

    def _click(self) -> None:
        producer = self._producer()
        if producer is None:
            return
        status = self.recordings.status(*producer)
        try:
            if status is not None and status.active:
                self.recordings.stop(*producer)
            else:
                self.recordings.start(*producer)
        except Exception as exc:  # the producer just left, the directory is unwritable...
            self.note.text = (f"<span style='color:#ff8a80'>could not record: "
                              f"{escape(exc)}</span>")
            return
        self.update()
