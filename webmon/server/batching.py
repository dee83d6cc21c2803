"""One websocket message per session update, instead of one per change.

Bokeh 3.9 sends every change of a document as its own PATCH-DOC message, even the changes
collected under ``doc.hold("combine")``: ``unhold()`` replays them one by one and the
server session sends each to every connection.  Each message costs this server about a
millisecond whatever its size (a serializer over every model of the document, the
encoding, and one awaited websocket frame per header, metadata, content and numpy
buffer), and each reaches the browser as a separate update to apply and repaint.  A
PATCH-DOC message carries a list of events, so :func:`release` sends all the changes of
one update as one message per connection, encoded by a serializer that:

* looks models up in the document only when a change actually refers to one (Bokeh's own
  builds a reference for every model of the document for every message, although streams
  and new column values never refer to a model), and
* writes numpy arrays inline (base64 in the JSON) rather than as separate binary frames,
  so a message is always three websocket frames.  The arrays of one tick are a few
  hundred values; the browser decodes either form.

This uses internals of Bokeh's server session (its change dispatch, its pending writes,
its connections), which differ between the Bokeh minors webmon supports:

* Bokeh 3.9 writes each change at once: a pending write is the awaitable of
  ``connection._socket.send_message``; :func:`release` appends one per connection.
* Bokeh 3.10 builds the messages after the callback, in its worker threads: a pending write
  is a ``_PendingPatch(event, protocol, connections)`` that Bokeh turns into a message with
  ``protocol.create("PATCH-DOC", [event])``; :func:`release` appends one per connection
  whose ``protocol`` builds the message of all the update's changes.

Both are checked against the installed Bokeh when this module is imported.  On a Bokeh
minor not in :data:`SUPPORTED_MINORS`, or if the internals differ from what is expected,
:data:`SUPPORTED` is False, one warning says so, and :func:`release` falls back to
``doc.unhold()`` (one message per change: slower, the same document).
``tests/test_server_batching.py`` checks the check, and compares in Chromium the document a
page ends up with with and without batching.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import inspect
import logging
import sys
from typing import Any

import bokeh
import numpy as np
from bokeh.core.serialization import Serializer
from bokeh.document import Document
from bokeh.document.events import DocumentPatchedEvent
from bokeh.model import Model
from bokeh.protocol.messages.patch_doc import PatchJson, patch_doc

log = logging.getLogger(__name__)

#: The Bokeh minors whose internals this module was written for (3.9.2 and 3.10.2 read), and
#: how each dispatches a document's changes.
SUPPORTED_MINORS = {"3.9": "send-at-once", "3.10": "pending-patches"}
#: gzip level of arrays written inline.
INLINE_COMPRESSION = 1


#: Native-order numeric dtypes that Bokeh sends as they are (its ``transform_array`` leaves
#: them alone), and their names.
_PLAIN_DTYPES = {np.dtype(name): name for name in (
    "float64", "float32", "int32", "uint32", "int16", "uint16", "int8", "uint8")}


class _DocumentSerializer(Serializer):
    """``Serializer(references=doc.models.synced_references)``, except that the references
    are computed only if a model is actually met while encoding."""

    def __init__(self, doc: Document, *, deferred: bool) -> None:
        super().__init__(deferred=deferred)
        self._doc = doc
        self._synced: set[int] | None = None

    def _is_synced(self, obj: Any) -> bool:
        if self._synced is None:
            self._synced = {id(model) for model in self._doc.models.synced_references}
        return id(obj) in self._synced

    def get_ref(self, obj: Any) -> Any:
        ref = super().get_ref(obj)
        if ref is None and isinstance(obj, Model) and self._is_synced(obj):
            return obj.ref
        return ref

    def has_ref(self, obj: Any) -> bool:
        return super().has_ref(obj) or (isinstance(obj, Model) and self._is_synced(obj))

    def _encode(self, obj: Any) -> Any:
        # The values of a tick's changes are mostly numpy columns, strings, dicts and
        # lists; Bokeh finds their encoder through a dozen isinstance checks and encodes a
        # column through generic conversions.  Same output, straight there.
        cls = type(obj)
        if cls is np.ndarray:
            dtype_name = _PLAIN_DTYPES.get(obj.dtype)
            if dtype_name is not None and obj.ndim > 0 and obj.flags.c_contiguous:
                return {"type": "ndarray", "array": self._encode_bytes(obj.data),
                        "shape": list(obj.shape), "dtype": dtype_name, "order": sys.byteorder}
        elif cls is str:
            return obj
        elif cls is dict:
            return self._encode_dict(obj)
        elif cls is list:
            return self._encode_list(obj)
        return super()._encode(obj)

    def _encode_bytes(self, obj: bytes | memoryview) -> Any:
        if self._deferred:
            return super()._encode_bytes(obj)
        # Inline, as Bokeh writes them (gzip, then base64; the browser gunzips), but with
        # the fastest compression: Bokeh's default level 9 and its per-array settings
        # lookup cost more than the few hundred bytes they save.
        raw = obj.tobytes() if isinstance(obj, memoryview) else bytes(obj)
        return {"type": "bytes", "data": _packed(raw)}


#: Arrays up to this size have their inline encoding remembered...
_REMEMBER_BYTES = 64 * 1024
#: ...this many at a time (then forgotten all at once; a tick needs a few dozen).
_REMEMBER_COUNT = 512
_remembered: dict[bytes, str] = {}


def _packed(raw: bytes) -> str:
    """gzip then base64 of ``raw``, remembered for small arrays: every session of a tab at
    the same position sends the same increment, so all but the first reuse its encoding
    (gzip's set-up alone costs about 9 us an array here)."""
    if len(raw) > _REMEMBER_BYTES:
        return base64.b64encode(gzip.compress(raw, INLINE_COMPRESSION, mtime=1)).decode("ascii")
    text = _remembered.get(raw)
    if text is None:
        if len(_remembered) >= _REMEMBER_COUNT:
            _remembered.clear()
        text = base64.b64encode(gzip.compress(raw, INLINE_COMPRESSION, mtime=1)).decode("ascii")
        _remembered[raw] = text
    return text


def bokeh_minor(version: str) -> str:
    """``"3.10"`` of ``"3.10.2"`` (or of ``"3.10.0.dev3"``)."""
    return ".".join(version.split(".")[:2])


def _check_session(style: str) -> str | None:
    """None when Bokeh's session internals are those of ``style``, else what differs."""
    from bokeh.server import session as session_module
    from bokeh.server.connection import ServerConnection
    from bokeh.server.session import ServerSession

    session_source = inspect.getsource(ServerSession)
    for name in ("_pending_writes", "_subscribed_connections",
                 "_current_patch_connection", "def _document_patched"):
        if name not in session_source:
            return f"ServerSession has no {name}"
    if style == "send-at-once":
        if "self._socket.send_message(" not in inspect.getsource(
                ServerConnection.send_patch_document):
            return "ServerConnection.send_patch_document no longer uses _socket.send_message"
        return None
    pending = getattr(session_module, "_PendingPatch", None)
    if pending is None or [f.name for f in dataclasses.fields(pending)] != [
            "event", "protocol", "connections"]:
        return "bokeh.server.session._PendingPatch is not (event, protocol, connections)"
    serialize = inspect.getsource(session_module._serialize_patches)
    for expected in ('patch.protocol.create("PATCH-DOC", [patch.event])',
                     "patch_curdoc(patch.event.document)", "patch.connections"):
        if expected not in serialize:
            return f"_serialize_patches no longer uses {expected}"
    if "self._pending_writes.append(_PendingPatch(" not in inspect.getsource(
            ServerSession._document_patched):
        return "ServerSession._document_patched no longer appends a _PendingPatch"
    if not callable(getattr(ServerConnection, "send_message", None)):
        return "ServerConnection has no send_message"
    return None


def _check(version: str) -> tuple[str | None, str | None]:
    """``(style, None)`` when Bokeh ``version``'s internals are as this module expects, else
    ``(None, what differs)``."""
    try:
        style = SUPPORTED_MINORS.get(bokeh_minor(version))
        if style is None:
            return None, (f"bokeh {version} is not a version webmon's batched updates were "
                          f"checked against ({', '.join(SUPPORTED_MINORS)})")
        problem = _check_session(style)
        if problem is not None:
            return None, problem
        for name in ("get_ref", "has_ref", "add_ref"):
            if not callable(getattr(Serializer, name, None)):
                return None, f"Serializer has no {name}"
        if "BytesRep(type=\"bytes\", data=data)" not in inspect.getsource(
                Serializer._encode_bytes):
            return None, "Serializer._encode_bytes no longer writes a BytesRep"
        if "self.get_ref(obj)" not in inspect.getsource(Serializer.encode):
            return None, "Serializer.encode no longer looks references up with get_ref"
        if "synced_references" not in inspect.getsource(patch_doc.create):
            return None, "patch_doc.create no longer uses the synced references"
        return style, None
    except Exception as exc:  # any surprise means: do not touch the internals
        return None, f"{type(exc).__name__}: {exc}"


def _check_encoding() -> str | None:
    """None when the serializer below encodes like Bokeh's own, else what differs."""
    try:
        if any(t in Serializer._encoders for t in (np.ndarray, str, dict, list)):
            return "Bokeh registered its own encoder for a type encoded here"
        doc = Document()
        sample = {"f8": np.arange(5, dtype="f8"), "u2": np.arange(3, dtype="u2"),
                  "text": ["a", "b"], "nested": {"x": 1.5, "y": None}}
        ours = _DocumentSerializer(doc, deferred=False).encode(sample)
        theirs = Serializer(deferred=False).encode(sample)

        def same_arrays(a: Any, b: Any) -> bool:
            # Bokeh's gzip differs in level, not in what it decodes to.
            if isinstance(a, dict) and a.get("type") == "bytes":
                return (gzip.decompress(base64.b64decode(a["data"]))
                        == gzip.decompress(base64.b64decode(b["data"])))
            if isinstance(a, dict) and isinstance(b, dict):
                return a.keys() == b.keys() and all(same_arrays(a[k], b[k]) for k in a)
            if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
                return len(a) == len(b) and all(map(same_arrays, a, b))
            return a == b

        if not same_arrays(ours, theirs):
            return "the serializer no longer encodes like Bokeh's"
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


#: How the installed Bokeh dispatches changes (a value of :data:`SUPPORTED_MINORS`), and why
#: batching is off (None when it is on).
STYLE, UNSUPPORTED_REASON = _check(bokeh.__version__)
UNSUPPORTED_REASON = UNSUPPORTED_REASON or _check_encoding()
SUPPORTED = UNSUPPORTED_REASON is None
if not SUPPORTED:
    STYLE = None
    # Once per process, at import: the dashboard works, each change as its own message.
    log.warning("webmon sends each document change as its own websocket message (slower, "
                "same result) because %s", UNSUPPORTED_REASON)


@dataclasses.dataclass(frozen=True)
class Batching:
    """How a server's sessions send their updates (``Hub(batching=...)``); the benchmarks
    compare the variants side by side."""

    #: One message per update; False sends each change as its own message, as Bokeh does.
    enabled: bool = True
    #: Numpy arrays inline in the message's JSON; False sends them as Bokeh's binary frames.
    inline_arrays: bool = True



def patch_message(doc: Document, events: list[DocumentPatchedEvent], *,
                  inline_arrays: bool = True) -> patch_doc:
    """One PATCH-DOC message with ``events`` (all of ``doc``), as ``patch_doc.create``
    builds it but with the lazy serializer; marks the new models it sent as synced."""
    serializer = _DocumentSerializer(doc, deferred=not inline_arrays)
    content = PatchJson(events=serializer.encode(events))
    doc.models.flush_synced(lambda model: not serializer.has_ref(model))
    message = patch_doc(patch_doc.create_header(), {}, content)
    message.add_buffers(*serializer.buffers)
    return message


def _closing(connection: Any) -> bool:
    """True when the browser has closed (or is closing) this connection's websocket.

    A closed tab's connection stays subscribed until tornado calls the handler's
    ``on_close``; a message sent in between only makes Bokeh log "Failed sending message as
    connection was closed", for what is a normal close.
    """
    socket = getattr(connection, "_socket", None)
    # A connection of another shape than Bokeh 3.9's is sent to, as Bokeh would.
    if not hasattr(socket, "ws_connection"):
        return False
    ws = socket.ws_connection  # tornado's; None once the socket closed
    return ws is None or ws.is_closing()


class _BatchProtocol:
    """Stands in for a connection's protocol in Bokeh 3.10's pending patch: Bokeh asks it to
    create the PATCH-DOC message of the patch's first event, and gets the message of all
    the update's changes for that connection (built in Bokeh's worker thread, under the
    document's lock, as Bokeh builds its own)."""

    def __init__(self, doc: Document, events: list[DocumentPatchedEvent], inline: bool) -> None:
        self._doc = doc
        self._events = events
        self._inline = inline

    def create(self, msgtype: str, *args: Any, **kwargs: Any) -> patch_doc:
        if msgtype != "PATCH-DOC":
            raise ValueError(f"a batched patch makes PATCH-DOC messages, not {msgtype}")
        return patch_message(self._doc, self._events, inline_arrays=self._inline)


def _connections(server_session: Any) -> list[Any]:
    lock = getattr(server_session, "_connections_lock", None)  # Bokeh 3.10
    if lock is None:
        return list(server_session._subscribed_connections)
    with lock:
        return list(server_session._subscribed_connections)


#: One message per update, arrays inline: what the dashboard does.
DEFAULT = Batching()


def release(doc: Document, settings: Batching = DEFAULT) -> int:
    """``doc.unhold()``, sending the held changes as one message per connection (unless
    ``settings`` says otherwise).

    Must run with the document locked (in a Bokeh session callback).  Returns the number
    of changes batched; 0 when it fell back to ``unhold()`` (batching off, no server
    session, not under its lock, or Bokeh internals other than expected).
    """
    context = doc.session_context
    server_session = getattr(context, "session", None) if context is not None else None
    if (not (SUPPORTED and settings.enabled) or server_session is None
            or getattr(server_session, "_pending_writes", None) is None):
        doc.unhold()
        return 0
    patched: list[DocumentPatchedEvent] = []
    # unhold() replays the held changes: Python callbacks and every other listener run as
    # usual; only the server session's "send this change" is collected instead.
    server_session._document_patched = patched.append
    try:
        doc.unhold()
    finally:
        del server_session._document_patched
    if not patched:
        return 0
    pending = server_session._pending_writes
    for connection in _connections(server_session):
        if _closing(connection):
            continue
        # As Bokeh does: a change the browser itself made is not echoed back to it.
        events = [event for event in patched
                  if not (event.setter is server_session
                          and connection is server_session._current_patch_connection)]
        if not events:
            continue
        if STYLE == "send-at-once":
            message = patch_message(doc, events, inline_arrays=settings.inline_arrays)
            pending.append(connection._socket.send_message(message))
        else:
            from bokeh.server.session import _PendingPatch

            protocol = _BatchProtocol(doc, events, settings.inline_arrays)
            pending.append(_PendingPatch(events[0], protocol, (connection,)))
    return len(patched)
