"""One PATCH-DOC message per update (``webmon.server.batching``): Bokeh's internals are as the
module expects (on each supported Bokeh minor), each update is one message of all its
changes, and Chromium ends up with exactly the document it gets without batching, which is
the server's (streams with rollover, patches, replaced columns, property changes, models
added during an update that refer to models the page already has).  On a Bokeh it was not
written for, batching is off with one warning and updates still arrive."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any

import numpy as np
import pytest
from bokeh.client import pull_session
from bokeh.document import Document
from bokeh.models import ColumnDataSource, Div
from bokeh.plotting import figure
from bokeh.protocol.message import Message
from bokeh.server.views import ws
from browser_util import BokehServerThread, chromium_browser, wait_for
from helpers import child_env, wait_until

from webmon.server import batching

UPDATES = 40
ROLLOVER = 60


class Changes:
    """A document changed in many ways per update, each update released as one message."""

    def __init__(self, doc: Document, settings: batching.Batching = batching.DEFAULT) -> None:
        self.doc = doc
        self.settings = settings
        self.n = 0
        self.batched: list[int] = []
        self.streamed = ColumnDataSource(
            {"x": np.zeros(0, "f8"), "y": np.zeros(0, "f4"), "k": np.zeros(0, "i4")},
            name="streamed")
        self.replaced = ColumnDataSource({"a": np.zeros(3)}, name="replaced")
        self.counter = Div(text="0", name="counter")
        self.fig = figure(name="fig", height=200, width=300)
        self.fig.scatter("x", "y", source=self.streamed)
        doc.add_root(self.fig)
        doc.add_root(self.counter)
        doc.add_root(self.replaced)
        self.callback: Any = None

    def start(self) -> None:
        self.callback = self.doc.add_periodic_callback(self.update, 30)

    def update(self) -> None:
        self.n += 1
        n = self.n
        self.doc.hold("combine")
        try:
            x = np.arange(5 * (n - 1), 5 * n, dtype="f8")
            self.streamed.stream({"x": x, "y": (x * 0.5).astype("f4"), "k": x.astype("i4")},
                                 rollover=ROLLOVER)
            self.streamed.patch({"y": [(0, -float(n))]})
            if n % 5 == 0:
                self.replaced.data = {"a": np.arange(n, dtype="f8") ** 2}
            if n == 10:
                # New models that refer to models the browser already has.
                self.fig.line("x", "y", source=self.streamed, name="added-line")
            self.counter.text = "done" if n == UPDATES else str(n)
        finally:
            self.batched.append(batching.release(self.doc, self.settings))
        if n == UPDATES:
            self.doc.remove_periodic_callback(self.callback)

    def state(self) -> dict[str, Any]:
        return {"x": list(self.streamed.data["x"]), "y": list(self.streamed.data["y"]),
                "k": list(self.streamed.data["k"]), "a": list(self.replaced.data["a"]),
                "counter": self.counter.text,
                "line_source": self.fig.select_one({"name": "added-line"}).data_source.id,
                "streamed_id": self.streamed.id}


class Recorder:
    """Bokeh's own hook on the messages its websocket handler sends."""

    def __init__(self) -> None:
        self.sent: list[Message[Any]] = []
        self.received: list[Message[Any]] = []

    def __enter__(self) -> Recorder:
        ws._message_test_port = self  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: Any) -> None:
        ws._message_test_port = None

    def patches(self) -> list[Message[Any]]:
        return [m for m in list(self.sent) if m.msgtype == "PATCH-DOC"]


@pytest.fixture
def server() -> Any:
    """``/changes`` releases each update with batching, ``/plain`` with ``doc.unhold()``."""
    made: list[Changes] = []
    lock = threading.Lock()

    def make_doc(doc: Document, settings: batching.Batching = batching.DEFAULT) -> None:
        with lock:
            made.append(Changes(doc, settings))

    plain = batching.Batching(enabled=False)
    bokeh = BokehServerThread({"/changes": make_doc,
                               "/plain": lambda doc: make_doc(doc, plain)}).start()
    bokeh.made = made  # type: ignore[attr-defined]
    try:
        yield bokeh
    finally:
        bokeh.stop()


def run_updates(changes: Changes, recorder: Recorder) -> None:
    """Run the updates; return once the last one's message was sent."""
    changes.doc.add_next_tick_callback(changes.start)  # thread-safe, as Bokeh documents
    wait_until(lambda: changes.n == UPDATES, timeout=30, message="updates done")
    done = {"kind": "ModelChanged", "model": changes.counter.ref, "attr": "text",
            "new": "done"}
    wait_until(lambda: any(done in m.content["events"] for m in recorder.patches()),
               message="the last update's message sent")


def check_messages(recorder: Recorder, changes: Changes) -> None:
    patches = recorder.patches()
    # Every update went out as one message of all its changes (stream, patch, text, and
    # every fifth update new data): not one message per change.
    assert changes.batched == [len(m.content["events"]) for m in patches][-UPDATES:]
    assert len(patches) == UPDATES
    assert all(len(m.content["events"]) >= 3 for m in patches)
    assert all(not m.buffers for m in patches)  # arrays inline: three frames a message


def test_bokeh_internals_are_the_ones_batching_was_written_for() -> None:
    # Every supported Bokeh minor (pyproject) must batch: if this fails, re-read the internals
    # batching.py relies on in the installed Bokeh.
    import bokeh

    assert batching.SUPPORTED, batching.UNSUPPORTED_REASON
    assert batching.STYLE == batching.SUPPORTED_MINORS[batching.bokeh_minor(bokeh.__version__)]


def test_an_unknown_bokeh_falls_back_with_one_warning() -> None:
    code = ("import logging, bokeh\n"
            "logging.basicConfig(format='%(levelname)s %(message)s')\n"
            # Bokeh's resources look their version up when imported: import them first.
            "import bokeh.resources, bokeh.embed, bokeh.plotting, bokeh.server.server\n"
            "from bokeh.document import Document\n"
            "from bokeh.models import Div\n"
            "bokeh.__version__ = '3.11.0'\n"
            "from webmon.server import batching\n"
            "doc = Document(); div = Div(text='a'); doc.add_root(div)\n"
            "doc.hold('combine'); div.text = 'b'\n"
            "print(batching.SUPPORTED, batching.STYLE, batching.release(doc), div.text)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "None", "0", "b"]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, done.stderr
    assert "bokeh 3.11.0 is not a version" in warnings[0]
    assert "each document change as its own websocket message" in warnings[0]


@pytest.mark.parametrize(("version", "minor"), [("3.9.2", "3.9"), ("3.10.0.dev3", "3.10"),
                                                ("4.0", "4.0")])
def test_bokeh_minor(version: str, minor: str) -> None:
    assert batching.bokeh_minor(version) == minor


def test_a_closing_tabs_connection_is_skipped() -> None:
    """A connection whose websocket closed, or is closing, gets no message (Bokeh would only
    warn "Failed sending message"); one of a shape this was not written for still gets it."""
    from types import SimpleNamespace

    def connection(ws: Any) -> Any:
        return SimpleNamespace(_socket=SimpleNamespace(ws_connection=ws))

    def ws(closing: bool) -> Any:
        return SimpleNamespace(is_closing=lambda: closing)

    assert batching._closing(connection(None))
    assert batching._closing(connection(ws(closing=True)))
    assert not batching._closing(connection(ws(closing=False)))
    assert not batching._closing(SimpleNamespace())
    assert not batching._closing(SimpleNamespace(_socket=SimpleNamespace()))


def test_release_without_a_server_session_is_unhold() -> None:
    doc = Document()
    div = Div(text="a")
    doc.add_root(div)
    seen: list[Any] = []
    doc.on_change(seen.append)
    doc.hold("combine")
    div.text = "b"
    div.text = "c"
    assert seen == []
    assert batching.release(doc) == 0
    assert [event.new for event in seen] == ["c"]
    assert doc.callbacks.hold_value is None


def test_each_update_is_one_message_to_a_connected_client(server: Any) -> None:
    with Recorder() as recorder:
        # A Bokeh client connection (its document is not kept up to date here: the
        # browser test below checks what a browser makes of the messages).
        client = pull_session(url=server.url("/changes"))
        try:
            changes = wait_until(lambda: server.made and server.made[-1])
            run_updates(changes, recorder)
            check_messages(recorder, changes)
            # The messages carry the server document's values.
            last = recorder.patches()[-1].content["events"]
            assert {"kind": "ModelChanged", "model": changes.counter.ref, "attr": "text",
                    "new": "done"} in last
        finally:
            client.close()


@pytest.mark.parametrize("settings", [batching.Batching(inline_arrays=False),
                                      batching.Batching(enabled=False)],
                         ids=["binary arrays", "a message per change"])
def test_the_batching_settings_are_honoured(server: Any, settings: batching.Batching) -> None:
    with Recorder() as recorder:
        client = pull_session(url=server.url("/changes"))
        try:
            changes = wait_until(lambda: server.made and server.made[-1])
            changes.settings = settings
            run_updates(changes, recorder)
            patches = recorder.patches()
            if settings.enabled:  # one message per update, its arrays as binary frames
                assert len(patches) == UPDATES and all(m.buffers for m in patches)
            else:  # Bokeh's own way: each change its own message
                assert changes.batched == [0] * UPDATES
                assert len(patches) > 3 * UPDATES
        finally:
            client.close()


READ_PAGE = """() => {
  const doc = Bokeh.documents[0];
  const streamed = doc.get_model_by_name("streamed");
  const line = doc.get_model_by_name("added-line");
  const column = (source, name) => Array.from(
    source.data instanceof Map ? source.data.get(name) : source.data[name], Number);
  return {x: column(streamed, "x"), y: column(streamed, "y"), k: column(streamed, "k"),
          a: column(doc.get_model_by_name("replaced"), "a"),
          counter: doc.get_model_by_name("counter").text,
          line_source: line == null ? null : line.data_source.id,
          streamed_id: streamed.id};
}"""


def normalized_ids(doc_json: Any) -> Any:
    """A document's JSON with its model ids renamed in order of appearance: two sessions of
    the same app give their models different ids."""
    names: dict[str, str] = {}

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("id"), str):
                names.setdefault(value["id"], f"id{len(names)}")
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    def rename(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: rename(item) for key, item in value.items()}
        if isinstance(value, list):
            return [rename(item) for item in value]
        return names.get(value, value) if isinstance(value, str) else value

    collect(doc_json)
    return rename(doc_json)


def open_page(browser: Any, url: str, errors: list[str]) -> Any:
    page = browser.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    wait_for(page, "() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && "
                   "Bokeh.documents[0].get_model_by_name('counter') != null", 30_000)
    return page


@pytest.mark.browser
def test_chromium_ends_with_the_same_document_with_and_without_batching(server: Any) -> None:
    """The contract of the fast path: a page fed one batched message per update ends up with
    the document a page fed by Bokeh alone (one message per change) ends up with, and both
    hold the server's values."""
    with Recorder() as recorder, chromium_browser() as browser:
        errors: list[str] = []
        batched_page = open_page(browser, server.url("/changes"), errors)
        batched = server.made[-1]
        plain_page = open_page(browser, server.url("/plain"), errors)
        plain = server.made[-1]
        assert batched.settings.enabled and not plain.settings.enabled

        run_updates(batched, recorder)
        check_messages(recorder, batched)
        recorder.sent.clear()
        run_updates(plain, recorder)
        # Bokeh alone sends each change as its own message.
        assert len(recorder.patches()) > 3 * UPDATES

        documents = {}
        for name, page, changes in (("batched", batched_page, batched),
                                    ("plain", plain_page, plain)):
            wait_for(page, "() => Bokeh.documents[0].get_model_by_name('counter').text == "
                           "'done'")
            assert page.evaluate(READ_PAGE) == changes.state(), name
            documents[name] = normalized_ids(
                json.loads(page.evaluate("() => Bokeh.documents[0].to_json_string()")))
        assert documents["batched"] == documents["plain"]
        assert errors == []


def test_inline_array_encodings_are_reused_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import gzip

    monkeypatch.setattr(batching, "_remembered", {})
    column = np.arange(40, dtype=np.float64)
    first = batching._packed(column.tobytes())
    # Another session's copy of the same increment: the same text, not encoded again.
    assert batching._packed(column.copy().tobytes()) is first
    assert gzip.decompress(base64.b64decode(first)) == column.tobytes()
    other = batching._packed((column + 1).tobytes())
    assert other != first and len(batching._remembered) == 2
    # Large arrays (a new tab's backfill) are encoded each time, never kept.
    big = np.zeros(batching._REMEMBER_BYTES // 8 + 1).tobytes()
    assert gzip.decompress(base64.b64decode(batching._packed(big))) == big
    assert big not in batching._remembered
    # At most _REMEMBER_COUNT at a time.
    for k in range(batching._REMEMBER_COUNT + 5):
        batching._packed(np.full(4, k, dtype=np.int32).tobytes())
    assert len(batching._remembered) <= batching._REMEMBER_COUNT
