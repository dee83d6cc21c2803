"""Transport behaviour within one process: API, limits, errors, lifecycle."""

from __future__ import annotations

import os
import stat
import sys
import threading
import time

import numpy as np
import pytest
from helpers import segments_of, shm_names

from webmon import CommandError, Publisher, Subscriber, WebmonError, discover
from webmon.schema import CHUNK_DTYPE
from webmon.shm.changes import ChangedState

REC = (1.5, 2, 3, 4, 5, 6, 7.25, 1, 8.5)


def test_stream_roundtrip_append_and_extend() -> None:
    with Publisher("p") as pub:
        s = pub.stream("chunk_loads", CHUNK_DTYPE, capacity=100)
        assert pub.stream("chunk_loads", CHUNK_DTYPE) is s
        sub = Subscriber("p")
        s.append(REC)
        batch = np.zeros(30, CHUNK_DTYPE)
        batch["nbytes"] = np.arange(30)
        s.extend(batch)
        got = sub.read("chunk_loads")
        assert got.lost == 0 and len(got.records) == 31
        assert got.records[0].item() == REC
        assert list(got.records["nbytes"][1:]) == list(range(30))
        assert (got.start, got.end) == (0, 31)
        assert len(sub.read("chunk_loads")) == 0
        assert sub.written("chunk_loads") == 31 == s.written()
        sub.close()


def test_overrun_counts_exactly_what_was_lost() -> None:
    with Publisher("p") as pub:
        s = pub.stream("x", CHUNK_DTYPE, capacity=64)
        sub = Subscriber("p")
        for i in range(10):
            s.append((0, 0, 0, 0, 0, i, 0, 0, 0))
        assert len(sub.read("x")) == 10
        batch = np.zeros(500, CHUNK_DTYPE)
        batch["nbytes"] = np.arange(10, 510)
        s.extend(batch)  # more than the capacity in one call
        for i in range(510, 530):
            s.append((0, 0, 0, 0, 0, i, 0, 0, 0))
        got = sub.read("x")
        assert got.lost == 530 - 10 - 64
        assert list(got.records["nbytes"]) == list(range(530 - 64, 530))
        sub.close()


def test_read_in_limited_chunks_and_seek_latest() -> None:
    with Publisher("p") as pub:
        s = pub.stream("x", CHUNK_DTYPE, capacity=64)
        sub = Subscriber("p")
        s.extend(np.zeros(50, CHUNK_DTYPE))
        assert len(sub.read("x", max_records=20)) == 20
        assert len(sub.read("x", max_records=20)) == 20
        sub.seek_latest("x")
        assert len(sub.read("x")) == 0
        s.append(REC)
        assert len(sub.read("x")) == 1
        sub.close()


def test_bad_records_are_refused_and_lose_nothing() -> None:
    with Publisher("p") as pub:
        s = pub.stream("x", CHUNK_DTYPE, capacity=4)
        sub = Subscriber("p")
        for _ in range(4):
            s.append(REC)
        with pytest.raises(ValueError, match="does not fit stream 'x'"):
            s.append((1.0, "not a number", 3, 4, 5, 6, 7.0, 1, 8.0))
        with pytest.raises(ValueError, match="does not fit"):
            s.append((1.0,))
        with pytest.raises(ValueError, match="takes arrays of dtype"):
            s.extend(np.zeros(3, np.float64))
        with pytest.raises(ValueError, match="exists with dtype"):
            pub.stream("x", np.dtype([("a", "<f8")]))
        with pytest.raises(TypeError, match="Python objects"):
            pub.stream("y", np.dtype([("a", object)]))
        got = sub.read("x")
        assert got.lost == 0 and len(got.records) == 4  # the full ring is intact
        sub.close()


def test_state_limits_and_types() -> None:
    with Publisher("p", state_bytes=1000) as pub:
        sub = Subscriber("p")
        assert sub.state("tiles") == (None, 0)
        pub.set_state("tiles", {"seen": [[1, 2]]})
        assert sub.state("tiles") == ({"seen": [[1, 2]]}, 1)
        with pytest.raises(ValueError, match=r"over its 1,000-byte slot.*reserve_state"):
            pub.set_state("tiles", "x" * 2000)
        with pytest.raises(ValueError, match="reserve_state"):
            pub.set_state("fresh", "x" * 2000)
        assert "fresh" not in pub.state_keys  # nothing was created by the refused value
        with pytest.raises(TypeError, match="JSON-serialisable"):
            pub.set_state("tiles", {"a": object()})
        with pytest.raises(TypeError, match="JSON-serialisable"):
            pub.set_state("tiles", float("nan"))
        assert sub.state("tiles") == ({"seen": [[1, 2]]}, 1)  # refused values changed nothing
        pub.reserve_state("tiles", 100_000)
        assert sub.state("tiles") == ({"seen": [[1, 2]]}, 1)
        pub.set_state("tiles", "y" * 50_000)
        assert sub.state("tiles") == ("y" * 50_000, 2)
        sub.close()


def test_state_unchanged_keeps_its_version() -> None:
    with Publisher("p") as pub, Subscriber("p") as sub:
        assert pub.set_state("k", {"a": [1, 2]}) == 1
        assert pub.set_state("k", {"a": [1, 2]}) == 1  # same JSON: nothing written
        assert sub.state("k") == ({"a": [1, 2]}, 1)
        assert pub.set_state("k", {"a": [1, 3]}) == 2
        assert pub.set_state("k", {"a": [1, 2]}) == 3  # back to an earlier value: new version
        assert sub.state("k") == ({"a": [1, 2]}, 3)


def test_state_json_publishes_encoded_bytes() -> None:
    with Publisher("p", state_bytes=100) as pub, Subscriber("p") as sub:
        assert pub.set_state_json("k", b'{"seen":[[1,2]],"name":"\\u00e9"}') == 1
        assert sub.state("k") == ({"seen": [[1, 2]], "name": "\u00e9"}, 1)
        assert pub.set_state("k", {"seen": [[1, 2]], "name": "\u00e9"}) == 1  # same bytes
        with pytest.raises(TypeError, match="bytes of JSON"):
            pub.set_state_json("k", '{"a":1}')  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="100-byte slot"):
            pub.set_state_json("k", b"[" + b"1," * 100 + b"1]")
        assert sub.state("k")[1] == 1


def test_state_refuses_a_value_that_contains_itself() -> None:
    loop: list = [1]
    loop.append(loop)
    with Publisher("p") as pub:
        with pytest.raises(TypeError, match="JSON-serialisable"):
            pub.set_state("k", loop)
        assert "k" not in pub.state_keys


def test_changed_state_skips_equal_values_and_grows_its_slots() -> None:
    with Publisher("p", state_bytes=200) as pub, Subscriber("p") as sub:
        state = ChangedState(pub, {"big": 100})
        state.value("small", {"a": 1})
        state.value("small", {"a": 1})
        assert sub.state("small") == ({"a": 1}, 1)
        state.value("small", None)
        assert sub.state("small") == (None, 2)  # None is a value like any other
        state.value("big", list(range(100)))  # about 290 bytes: the slot doubles twice
        assert state.slot_bytes("big") == 400
        assert sub.state("big") == (list(range(100)), 1)
        state.json("big", b"[1,2]")
        state.json("big", b"[1,2]")
        assert sub.state("big") == ([1, 2], 2)
        with pytest.raises(ValueError, match="200-byte slot"):
            state.value("small", list(range(100)))  # not growable: the Publisher's limit
        assert sub.state("small") == (None, 2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_alive_reads_proc_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Subscriber.alive runs on every hub tick: one read of /proc/<pid>/stat tells both
    that the process is no zombie and that its pid was not reused."""
    from webmon.shm import process

    opened: list[str] = []

    def counting_open(path: str, *args: object, **kwargs: object) -> object:
        opened.append(str(path))
        return open(path, *args, **kwargs)

    with Publisher("p") as pub, Subscriber("p") as sub:
        monkeypatch.setattr(process, "open", counting_open, raising=False)
        assert sub.alive
        assert opened == [f"/proc/{os.getpid()}/stat"]
        sub._start_time = (sub._start_time or 0) + 1  # as if the pid now were another's
        assert not sub.alive
        pub.close()
        sub._start_time -= 1
        assert not sub.alive  # closed: heartbeat stopped


def test_arrays_update_in_place_and_reshape() -> None:
    with Publisher("p") as pub:
        sub = Subscriber("p")
        a = np.arange(12, dtype=np.int16).reshape(3, 4)
        pub.share_array("thumb", a)
        np.testing.assert_array_equal(sub.array("thumb"), a)
        pub.share_array("thumb", a * 2)
        np.testing.assert_array_equal(sub.array("thumb"), a * 2)
        b = np.ones((5, 5), np.float64)
        pub.share_array("thumb", b)
        np.testing.assert_array_equal(sub.array("thumb"), b)
        with pytest.raises(TypeError):
            pub.share_array("bad", np.array([object()]))
        with pytest.raises(WebmonError, match="no array 'missing'.*thumb"):
            sub.array("missing")
        sub.close()


def test_commands_in_process() -> None:
    with Publisher("p") as pub:
        pub.register_command("add", lambda a, b: a + b)
        pub.register_command("boom", lambda: {}["missing"])
        pub.register_command("unserialisable", lambda: object())
        sub = Subscriber("p")
        stop = threading.Event()

        def pump() -> None:
            while not stop.is_set():
                pub.poll()
                stop.wait(0.001)

        t = threading.Thread(target=pump)
        t.start()
        try:
            assert sub.call("add", a=2, b=3) == 5
            with pytest.raises(CommandError, match="unknown command 'nope'.*add"):
                sub.call("nope")
            with pytest.raises(CommandError, match="bad arguments for 'add'"):
                sub.call("add", a=1)
            with pytest.raises(CommandError, match="KeyError"):
                sub.call("boom")
            with pytest.raises(CommandError, match="not JSON-serialisable"):
                sub.call("unserialisable")
            with pytest.raises(TypeError, match="JSON-serialisable"):
                sub.call("add", a=object(), b=1)
            assert sub.call("add", a=[1], b=[2]) == [1, 2]  # the producer carried on
        finally:
            stop.set()
            t.join()
        with pytest.raises(CommandError, match="timed out"):
            sub.call("add", a=1, b=2, timeout=0.2)
        # The expired request is answered, never run, when polling resumes.
        assert pub.poll() == 1
        sub.close()


def test_interest() -> None:
    with Publisher("p") as pub:
        sub = Subscriber("p")
        assert not sub.want("tiles")  # the producer has never heard of it
        assert not pub.wanted("tiles")
        assert sub.want("tiles")
        assert pub.wanted("tiles")
        assert not pub.wanted("other")
        sub.close()


def test_interest_within_a_shorter_window() -> None:
    with Publisher("p") as pub, Subscriber("p") as sub:
        pub.wanted("profile")  # the producer names it first
        sub._control.mark_wanted(sub._control.find("profile"), time.time() - 1.0)
        assert pub.wanted("profile")  # within the default few seconds
        assert not pub.wanted("profile", within=0.7)
        assert sub.want("profile") and pub.wanted("profile", within=0.7)


def test_heartbeat_and_close_callbacks() -> None:
    pub = Publisher("hooks")
    beats: list[float] = []
    order: list[str] = []

    def failing() -> None:
        order.append("failing")
        raise RuntimeError("an instrument's bug")

    def before_close() -> None:
        # Every segment is still there, and no lock of the Publisher is held.
        order.append("close")
        pub.set_state("last", "written by a close callback")

    pub.on_heartbeat(lambda: beats.append(time.time()))
    pub.on_heartbeat(failing)
    pub.on_close(before_close)
    deadline = time.monotonic() + 10
    while len(beats) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(beats) >= 3
    assert order.count("failing") == 1  # removed after it raised; the heartbeat goes on
    pub.close()
    pub.close()
    assert order.count("close") == 1
    with pytest.raises(RuntimeError, match="closed"):
        pub.on_heartbeat(lambda: None)


def test_discovery_lists_and_close_unlinks(runtime_dir) -> None:
    pub = Publisher("listed", app="tester 2.0")
    s = pub.stream("frames", np.dtype([("t", "<f8")]), capacity=8)
    pub.set_state("k", 1)
    pub.share_array("a", np.zeros(3))
    infos = discover()
    assert [(i.name, i.app, i.pid) for i in infos] == [("listed", "tester 2.0", os.getpid())]
    info = infos[0]
    assert set(info.streams) == {"frames"} and info.streams["frames"].capacity == 8
    assert info.state == ["k"] and info.arrays == ["a"]
    assert info.heartbeat_age < 1.5
    # Only this channel's segments: /dev/shm is shared with every other process here.
    created = segments_of(info.token)
    assert len(created) == 5 and all(len(n) + 1 <= 31 for n in created)
    sub = Subscriber(info)
    assert sub.alive
    s.append((1.0,))
    pub.close()
    assert not sub.alive
    assert segments_of(info.token) == set()
    assert discover() == [] and os.listdir(runtime_dir) == []
    assert len(sub.read("frames")) == 1  # the mapping outlives the unlink; no error
    sub.close()


def test_permissions(runtime_dir) -> None:
    with Publisher("perm") as pub:
        pub.stream("s", np.dtype([("t", "<f8")]), capacity=8)
        assert stat.S_IMODE(os.stat(runtime_dir).st_mode) == 0o700
        for entry in os.listdir(runtime_dir):
            assert stat.S_IMODE(os.stat(runtime_dir / entry).st_mode) == 0o600, entry
        token = pub._token
        segs = [n for n in shm_names() if n.startswith(token)]
        assert len(segs) == 3
        for name in segs:
            assert stat.S_IMODE(os.stat(f"/dev/shm/{name}").st_mode) == 0o600


def test_runtime_dir_too_open_is_closed(tmp_path, monkeypatch) -> None:
    d = tmp_path / "open"
    d.mkdir(mode=0o777)
    d.chmod(0o777)
    monkeypatch.setenv("WEBMON_RUNTIME_DIR", str(d))
    with Publisher("p"):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700


def test_subscriber_errors() -> None:
    with pytest.raises(WebmonError, match="no live producer 'ghost'"):
        Subscriber("ghost")
    with Publisher("p") as pub:
        sub = Subscriber(os.getpid())
        with pytest.raises(WebmonError, match="no stream 'nope'"):
            sub.read("nope")
        assert "Subscriber of 'p'" in repr(sub) and "Publisher 'p'" in repr(pub)
        sub.close()
        with pytest.raises(WebmonError, match="closed"):
            sub.read("nope")
    with pytest.raises(ValueError, match="producer name"):
        Publisher("bad name with spaces")


def test_new_streams_are_found_after_attach() -> None:
    with Publisher("p") as pub:
        sub = Subscriber("p")
        assert sub.streams() == []
        pub.stream("later", np.dtype([("t", "<f8")])).append((3.0,))
        pub.register_command("c", lambda: 1)
        assert sub.streams() == ["later"] and sub.commands() == ["c"]
        assert sub.read("later").records["t"].tolist() == [3.0]
        sub.close()


def test_forked_child_does_not_unlink_parents_segments() -> None:
    with Publisher("p") as pub:
        pub.set_state("k", 1)
        pid = os.fork()
        if pid == 0:  # the child inherits the publisher; closing it must not unlink
            pub.close()
            os._exit(0)
        os.waitpid(pid, 0)
        sub = Subscriber("p")
        assert sub.state("k") == (1, 1)
        sub.close()
