"""Corrupted segments and descriptors: property-based mutation of headers, indices and slots.

Whatever the bytes say, a reader either returns data that some writer call really wrote, or
raises WebmonError with a message.  It never crashes, hangs, or reads outside the segment
(numpy would raise, and ctypes/struct would fault, if an offset escaped the mapping).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webmon import WebmonError, discover
from webmon.shm import layout
from webmon.shm.arrays import ArrayReader, ArrayWriter
from webmon.shm.control import Control
from webmon.shm.discovery import DESCRIPTOR_VERSION, parse_descriptor
from webmon.shm.mailbox import CommandClient, CommandServer, create_mailbox
from webmon.shm.segment import Segment, new_token
from webmon.shm.state import StateReader, StateWriter, encode
from webmon.shm.stream import StreamReader, StreamWriter

DT = np.dtype([("seq", "<u8"), ("x", "<f4"), ("tag", "u1")])
CAP = 16
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def mutations(limit: int) -> st.SearchStrategy:
    """A few (offset, byte) writes, biased towards the header where the indices live."""
    offset = st.one_of(st.integers(0, 127), st.integers(0, limit - 1))
    return st.lists(st.tuples(offset, st.integers(0, 255)), min_size=1, max_size=12)


@contextlib.contextmanager
def mutated(seg: Segment, original: bytes, changes: list[tuple[int, int]]) -> Iterator[None]:
    """Apply the changes, and always put the original bytes back (the prefix holds the
    creator's pid: a mangled one left behind would look like a dead producer's segment)."""
    for off, value in changes:
        if off < seg.size:
            seg.buf[off] = value
    try:
        yield
    finally:
        seg.buf[:] = original


@pytest.fixture(scope="module")
def stream_segment():
    name = new_token() + "s1"
    writer = StreamWriter.create("s", name, DT, CAP)
    for i in range(10):
        writer.append((i, i / 2, i % 7))
    batch = np.zeros(20, DT)
    batch["seq"] = np.arange(10, 30)
    batch["x"] = batch["seq"] / 2
    batch["tag"] = batch["seq"] % 7
    writer.extend(batch)
    yield writer.segment, bytes(writer.segment.buf)
    writer.close()
    Segment.attach(name).unlink()


@SETTINGS
@given(changes=mutations(layout.STREAM_HEADER + CAP * 48))
def test_stream_reader_survives_any_mutation(stream_segment, changes) -> None:
    seg, original = stream_segment
    with mutated(seg, original, changes):
        _read_mutated_stream(seg)


def _read_mutated_stream(seg: Segment) -> None:
    try:
        reader = StreamReader("s", Segment.attach(seg.name), DT)
    except WebmonError as exc:
        assert str(exc)
        return
    try:
        for start in (0, 14, 29):
            reader.cursor = start
            try:
                batch = reader.read()
            except WebmonError as exc:
                assert "went back" in str(exc)
                continue
            assert batch.end - batch.start == len(batch.records) + batch.lost
            for rec in batch.records:  # anything returned is exactly what was written
                seq = int(rec["seq"])
                assert rec["x"] == np.float32(seq / 2) and rec["tag"] == seq % 7
                assert 14 <= seq < 30
    finally:
        reader.close()


@pytest.fixture(scope="module")
def state_segment():
    name = new_token() + "k1"
    writer = StateWriter.create("k", name, 256)
    values = [{"v": i, "pad": "x" * i} for i in range(5)]
    for v in values:
        writer.write(encode("k", v))
    yield writer.segment, bytes(writer.segment.buf), values
    writer.close()
    Segment.attach(name).unlink()


@SETTINGS
@given(changes=mutations(layout.STATE_HEADER + 2 * (24 + 256)))
def test_state_reader_survives_any_mutation(state_segment, changes) -> None:
    seg, original, values = state_segment
    with mutated(seg, original, changes):
        try:
            reader = StateReader("k", Segment.attach(seg.name))
            value, version = reader.get()
        except WebmonError as exc:
            assert str(exc)
            return
        # A verified buffer holds a value the writer wrote (or None before any write).
        assert value is None or value in values
        reader.close()


def test_torn_state_values_are_never_accepted() -> None:
    """A reader that copies a buffer while the producer rewrites it gets the new head over
    a mix of the new and the old bytes: the check must refuse every such mix, and the
    reader fall back to the other buffer's whole value."""
    name = new_token() + "k1"
    writer = StateWriter.create("k", name, 4096)
    reader = StateReader("k", Segment.attach(name))
    try:
        rng = np.random.default_rng(5)
        off = layout.STATE_HEADER + 1 * (layout.STATE_BUFFER_HEAD_SIZE + 4096)  # buffer 1
        start = off + layout.STATE_BUFFER_HEAD_SIZE
        refused = 0
        for trial in range(60):
            # Values of one length, as consecutive tiles or camera states are.
            old, middle, new = ({"tiles": rng.integers(0, 99, 300).tolist(), "n": trial}
                                for _ in range(3))
            old_b, new_b = encode("k", old), encode("k", new)
            writer.version = 0
            writer.last = None
            writer.write(old_b)  # version 1, buffer 1
            writer.write(encode("k", middle))  # version 2, buffer 0
            writer.write(new_b)  # version 3, buffer 1 again
            n = min(len(old_b), len(new_b))
            for cut in sorted({0, 1, 8, n // 2, n - 1, *rng.integers(0, n, 8).tolist()}):
                torn = new_b[:cut] + old_b[cut:len(new_b)]
                if torn == new_b:
                    continue
                writer.segment.buf[start: start + len(torn)] = torn
                reader._cached = (0, None)
                value, version = reader.get()
                assert (value, version) == (middle, 2)
                refused += 1
        assert refused > 500
    finally:
        reader.close()
        writer.close()
        Segment.attach(name).unlink()


@pytest.fixture(scope="module")
def array_segment():
    name = new_token() + "a1"
    writer = ArrayWriter.create("a", name, np.arange(24, dtype=np.int32).reshape(4, 6))
    yield writer.segment, bytes(writer.segment.buf)
    writer.close()
    Segment.attach(name).unlink()


@SETTINGS
@given(changes=mutations(layout.ARRAY_HEADER + 2 * 128))
def test_array_reader_survives_any_mutation(array_segment, changes, monkeypatch) -> None:
    monkeypatch.setattr("webmon.shm.arrays._DEADLINE_S", 0.01)
    seg, original = array_segment
    with mutated(seg, original, changes):
        try:
            reader = ArrayReader("a", Segment.attach(seg.name))
            snap = reader.snapshot()
        except WebmonError as exc:
            assert str(exc)
            return
        assert snap.nbytes <= seg.size
        reader.close()


@pytest.fixture(scope="module")
def control_and_mailbox():
    token = new_token()
    control = Control.create(token + "c")
    control.claim("tiles")
    mailbox = create_mailbox(token + "m", slots=4, slot_bytes=256)
    lock = os.path.join(os.environ.get("TMPDIR", "/tmp"), token + ".lock")
    open(lock, "w").close()
    yield control, mailbox, lock
    control.segment.unlink()
    mailbox.unlink()
    os.unlink(lock)


@SETTINGS
@given(changes=mutations(layout.CONTROL_HEADER + 128 * 64))
def test_control_survives_any_mutation(control_and_mailbox, changes) -> None:
    control, _, _ = control_and_mailbox
    with mutated(control.segment, bytes(control.segment.buf), changes):
        try:
            reader = Control(Segment.attach(control.segment.name))
            slot = reader.find("tiles")
            if slot is not None:
                reader.mark_wanted(slot, 1.0)
                reader.wanted_at(slot)
            reader.heartbeat()
            reader.generation()
            reader.close()
        except WebmonError as exc:
            assert str(exc)


@SETTINGS
@given(changes=mutations(layout.MAILBOX_HEADER + 8 * 256))
def test_mailbox_survives_any_mutation(control_and_mailbox, changes) -> None:
    _, mailbox, lock = control_and_mailbox
    with mutated(mailbox, bytes(mailbox.buf), changes):
        try:
            server = CommandServer(Segment.attach(mailbox.name))
            server.register("ping", lambda: "pong")
            server.poll()
            client = CommandClient(Segment.attach(mailbox.name), lock)
            try:
                client.call("ping", {}, timeout=0.01)
            except WebmonError as exc:  # CommandError included: timed out or refused
                assert str(exc)
            client.close()
            server.close()
        except WebmonError as exc:
            assert str(exc)


def _valid_descriptor(token: str) -> dict:
    return {
        "webmon": DESCRIPTOR_VERSION, "name": "p", "app": "a", "pid": os.getpid(),
        "start_time": None, "started": 1.0, "token": token, "generation": 1,
        "control": token + "c000001", "mailbox": token + "m000002", "commands": ["x"],
        "streams": {"s": {"segment": token + "s000003", "capacity": 8,
                          "dtype": {"names": ["t"], "formats": ["<f8"], "offsets": [0],
                                    "itemsize": 8}}},
        "state": {"k": {"segment": token + "k000004", "max_bytes": 10}},
        "arrays": {"a": {"segment": token + "a000005", "shape": [2], "dtype": "<f8"}},
    }


def test_the_valid_descriptor_parses() -> None:
    """The mutations below start from a descriptor that parses."""
    token = new_token()
    info = parse_descriptor(_valid_descriptor(token), "/x/y.json")
    assert info.token == token and len(info.segment_names()) == 5


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                      children, max_size=3),
    max_leaves=8,
)


@SETTINGS
@given(path=st.lists(st.sampled_from(["streams", "s", "dtype", "formats", "state", "k",
                                      "segment", "token", "pid", "control", "arrays",
                                      "names", "capacity", "webmon"]), min_size=1, max_size=4),
       value=json_values, delete=st.booleans())
def test_descriptor_mutations_give_webmon_errors(path, value, delete) -> None:
    raw = _valid_descriptor(new_token())
    node = raw
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            break
        node = node[key]
    if isinstance(node, dict):
        if delete:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    try:
        info = parse_descriptor(raw, "/x/y.json")
    except WebmonError as exc:
        assert "/x/y.json" in str(exc)
        return
    assert isinstance(info.name, str) and all(n.startswith(info.token)
                                              for n in info.segment_names())


def test_discover_ignores_garbage_files(runtime_dir) -> None:
    (runtime_dir / "wm0000000000.json").write_text("{not json")
    (runtime_dir / "wm0000000001.json").write_text(json.dumps([1, 2, 3]))
    (runtime_dir / "wm0000000002.json").write_text(json.dumps({"webmon": 99}))
    token = new_token()
    foreign = _valid_descriptor(token)
    foreign["control"] = "some-other-apps-segment"  # never unlinked on our behalf
    (runtime_dir / f"{token}.json").write_text(json.dumps(foreign))
    assert discover() == []
    assert len(os.listdir(runtime_dir)) == 4  # unreadable files are left for a human


def test_wrong_magic_and_version_are_named(stream_segment) -> None:
    seg, original = stream_segment
    try:
        seg.buf[0:8] = b"NOTWEBMO"
        with pytest.raises(WebmonError, match="not a webmon segment"):
            StreamReader("s", Segment.attach(seg.name), DT)
        seg.buf[:] = original
        seg.buf[8] = 7
        with pytest.raises(WebmonError, match="layout version 7"):
            StreamReader("s", Segment.attach(seg.name), DT)
        seg.buf[:] = original
        with pytest.raises(WebmonError, match="expected state"):
            StateReader("s", Segment.attach(seg.name))
        with pytest.raises(WebmonError, match="needs 17"):
            StreamReader("s", Segment.attach(seg.name), np.dtype([("a", "<f8", (2,)), ("b", "u1")]))
    finally:
        seg.buf[:] = original
