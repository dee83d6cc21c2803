"""Replaying a recording as a producer: everything comes back, in order, at the chosen speed;
a seek opens a new producer refilled with what came before; commands to the recorded
producer are refused; the replay's own commands check their arguments."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import wait_until

from webmon import CommandError, Publisher, Subscriber, discover
from webmon.recording import load, record
from webmon.recording.replay import BACKFILL_S, Replayer, replay_name
from webmon.schema import (
    CHUNK_DTYPE,
    CHUNK_LOADS,
    CMD_PAUSE,
    CMD_REPLAY_PAUSE,
    CMD_REPLAY_PLAY,
    CMD_REPLAY_SEEK,
    CMD_REPLAY_SPEED,
    FRAME_DTYPE,
    FRAME_TIMES,
    LOADER,
    REPLAY,
)
from webmon.shm.about import about_to_json, describe_stream


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 2.5 s of a producer with two streams, a state key, an array and a command."""
    out = tmp_path_factory.mktemp("replay") / "my recording"
    runtime = tmp_path_factory.mktemp("replay-run")
    runtime.chmod(0o700)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEBMON_RUNTIME_DIR", str(runtime))
        with Publisher("source", app="replay-test 1.0") as pub:
            loads = pub.stream(CHUNK_LOADS, CHUNK_DTYPE)
            frames = pub.stream(FRAME_TIMES, FRAME_DTYPE)
            pub.register_command(CMD_PAUSE, lambda: None)
            with record(out):
                for i in range(50):
                    now = time.time()
                    for k in range(20):
                        loads.append((now, 1, k % 3, i, k, 65536, 1.0 + k, k == 0, 0.5))
                    frames.append((now, 16.7 + i))
                    pub.set_state(LOADER, {"paused": False, "i": i})
                    if i % 20 == 0:
                        pub.share_array("thumb", np.full((2, 3), i, dtype=np.uint8))
                    time.sleep(0.05)
    return out


@pytest.fixture
def replayer(recording: Path) -> Iterator[Replayer]:
    """The replay, running in a thread as in its own process (commands need it to poll)."""
    replayer = Replayer(load(recording), "replayed", speed=10.0)
    replayer.open()
    stop = threading.Event()
    thread = threading.Thread(target=replayer.run, args=(stop,), daemon=True)
    thread.start()
    yield replayer
    stop.set()
    thread.join(10)
    replayer.close()


def run_until(replayer: Replayer, predicate, timeout: float = 20.0, message: str = "condition"):
    return wait_until(predicate, timeout, interval=0.01, message=message)


def test_replay_name() -> None:
    assert replay_name("/data/my recording/") == "my_recording"
    assert replay_name("/data/webmon-demo-20260101-120000") == "webmon-demo-20260101-120000"
    assert len(replay_name("/x/" + "a" * 300)) == 64


def test_everything_comes_back_in_order(recording: Path, replayer: Replayer) -> None:
    rec = load(recording)
    sub = Subscriber("replayed")
    try:
        assert sub.info.app == f"replay of source@{rec.producer['pid']} (replay-test 1.0)"
        got: list[np.ndarray] = []
        states = []

        def finished() -> bool:
            got.append(sub.read(CHUNK_LOADS).records)
            states.append(sub.state(LOADER)[0])
            return not replayer.playing

        run_until(replayer, finished, message="the replay reached its end")
        got.append(sub.read(CHUNK_LOADS).records)
        loads = np.concatenate(got)
        assert loads.tobytes() == rec.records(CHUNK_LOADS).tobytes()
        assert len(loads) == 1000
        assert sub.read(FRAME_TIMES).records.tobytes() == rec.records(FRAME_TIMES).tobytes()
        seen = [s["i"] for s in states if s is not None]
        assert seen == sorted(seen) and seen[-1] == 49
        assert sub.array("thumb")[0, 0] == 40
        status, _ = sub.state(REPLAY)
        assert status["playing"] is False and status["position"] == pytest.approx(status["end"])
        assert status["recording"] == "my recording" and status["speed"] == 10.0
        # What the producer said of its streams comes back too (the explorer's units).
        said = describe_stream(CHUNK_DTYPE)
        assert about_to_json(rec.about(CHUNK_LOADS)) == said
        assert about_to_json(sub.info.streams[CHUNK_LOADS].about) == said
        assert sub.info.streams[FRAME_TIMES].about.unit("delta_ms") == "ms"
    finally:
        sub.close()


def test_a_recording_s_unusable_about_entry_is_ignored(recording: Path, tmp_path: Path) -> None:
    """The manifest is a file anybody may have edited: units of the wrong type or for fields
    the stream lacks are left out, the rest of the recording reads as before."""
    import json
    import shutil

    copy = tmp_path / "edited"
    shutil.copytree(recording, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["streams"][CHUNK_LOADS]["about"] = {"description": 5, "fields": {
        "load_ms": {"unit": ["ms"]}, "nbytes": "bytes", "nope": {"unit": "s"},
        "row": {"unit": "tile", "description": "x" * 10_000}}}
    manifest["streams"][FRAME_TIMES]["about"] = "not an object"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    rec = load(copy)
    about = rec.about(CHUNK_LOADS)
    assert about.description == "" and about.unit("load_ms") == "" and about.unit("nbytes") == ""
    assert about.unit("row") == "tile" and len(about.field_description("row")) <= 300
    assert not rec.about(FRAME_TIMES)
    assert len(rec.records(CHUNK_LOADS)) == 1000


def test_seek_starts_a_new_producer_refilled_from_before(recording: Path,
                                                        replayer: Replayer) -> None:
    rec = load(recording)
    before = {info.raw["token"] for info in discover() if info.name == "replayed"}
    with Subscriber("replayed") as sub:
        assert sub.call(CMD_REPLAY_PAUSE)["playing"] is False
        reply = sub.call(CMD_REPLAY_SEEK, position=1.5)
        assert reply["seeking"] == pytest.approx(1.5)
    run_until(replayer, lambda: replayer.seeks == 1, message="the seek done")
    live = [info for info in discover() if info.name == "replayed"]
    assert len(live) == 1 and live[0].raw["token"] not in before  # the old one closed
    target = rec.started + 1.5
    with Subscriber("replayed") as sub:
        backfill = sub.read(CHUNK_LOADS).records
        times = rec.read_times(CHUNK_LOADS)
        expected = rec.records(CHUNK_LOADS)[(times > target - BACKFILL_S) & (times <= target)]
        assert len(backfill) > 0 and backfill.tobytes() == expected.tobytes()
        value, _ = sub.state(LOADER)
        assert value == rec.state_at(LOADER, target)
        status, _ = sub.state(REPLAY)
        assert status["position"] == pytest.approx(target) and status["playing"] is False
        # Paused: nothing more comes.
        ticks = replayer.ticks
        wait_until(lambda: replayer.ticks > ticks + 10, message="ten more ticks")
        assert len(sub.read(CHUNK_LOADS).records) == 0
        sub.call(CMD_REPLAY_PLAY)
        run_until(replayer, lambda: not replayer.playing, message="played to the end")
        rest = sub.read(CHUNK_LOADS).records
        assert rest.tobytes() == rec.records(CHUNK_LOADS)[times > target].tobytes()


def test_play_at_the_end_starts_again(replayer: Replayer) -> None:
    run_until(replayer, lambda: not replayer.playing, message="the end")
    with Subscriber("replayed") as sub:
        # At a quarter of real speed, so that the first second after the restart lasts four
        # (this fixture plays at ten times: its 2.5 s took a quarter of a second).
        sub.call(CMD_REPLAY_SPEED, speed=0.25)
        assert sub.call(CMD_REPLAY_PLAY)["playing"] is True
    run_until(replayer, lambda: replayer.seeks == 1, message="started again")
    assert replayer.position < replayer.start + 1.0 and replayer.playing


def test_recorded_commands_are_refused(replayer: Replayer) -> None:
    with Subscriber("replayed") as sub:
        assert CMD_PAUSE in sub.commands()
        with pytest.raises(CommandError, match="replaying a recording: 'pause' is not sent"):
            sub.call(CMD_PAUSE)
        with pytest.raises(CommandError, match="replaying a recording"):
            sub.call(CMD_PAUSE, anything=1)


@pytest.mark.parametrize("command, kwargs, message", [
    (CMD_REPLAY_SPEED, {"speed": 20}, "from 0.25 to 10"),
    (CMD_REPLAY_SPEED, {"speed": 0.1}, "from 0.25 to 10"),
    (CMD_REPLAY_SPEED, {"speed": "fast"}, "from 0.25 to 10"),
    (CMD_REPLAY_SPEED, {"speed": True}, "from 0.25 to 10"),
    (CMD_REPLAY_SEEK, {"position": "end"}, "number of seconds"),
    (CMD_REPLAY_SEEK, {"position": None}, "number of seconds"),
])
def test_replay_commands_check_arguments(replayer: Replayer, command: str, kwargs: dict,
                                         message: str) -> None:
    with Subscriber("replayed") as sub:
        with pytest.raises(CommandError, match=message):
            sub.call(command, **kwargs)
        assert sub.call(CMD_REPLAY_SPEED, speed=0.25)["speed"] == 0.25


def test_a_command_sent_while_a_seek_swaps_producers_is_run(recording: Path,
                                                             monkeypatch) -> None:
    """Until the hub has found the new Publisher a seek opened, a command goes to the old
    one's mailbox: the old one answers it before it closes, so its caller does not wait its
    whole timeout for a producer that will never poll again."""
    from webmon.shm import layout

    replayer = Replayer(load(recording), "swapping", speed=1.0)
    replayer.open()
    old = replayer.pub
    sub = Subscriber("swapping")
    outcome: list[object] = []

    def speed_up() -> None:
        try:
            outcome.append(sub.call(CMD_REPLAY_SPEED, speed=4.0, timeout=5.0))
        except Exception as error:  # what the assertion below shows if it went wrong
            outcome.append(error)

    caller = threading.Thread(target=speed_up, daemon=True)
    publish_replay = replayer._publish_replay

    def meanwhile(pub: Publisher) -> None:
        publish_replay(pub)
        if pub is not old and not caller.is_alive() and not outcome:
            # The new Publisher is up and the old one not yet closed: the request lands in
            # the old mailbox now, after the old one's last regular poll.
            caller.start()
            wait_until(lambda: sub._commands is not None and sub._commands._rings.count(
                layout.MAILBOX_REQUEST_COUNT) > 0, timeout=5, interval=0.001,
                message="the request in the old mailbox")

    monkeypatch.setattr(replayer, "_publish_replay", meanwhile)
    try:
        replayer.seek(1.0)
        replayer.step()
        assert replayer.seeks == 1 and old.closed
        caller.join(10)
        assert len(outcome) == 1 and isinstance(outcome[0], dict), outcome
        assert outcome[0]["speed"] == 4.0 and replayer.speed == 4.0
    finally:
        sub.close()
        replayer.close()


def test_seek_beyond_the_ends_is_clamped(replayer: Replayer) -> None:
    with Subscriber("replayed") as sub:
        assert sub.call(CMD_REPLAY_SEEK, position=1e9)["seeking"] == pytest.approx(
            replayer.end - replayer.start)
    run_until(replayer, lambda: replayer.seeks == 1, message="the first seek done")
    with Subscriber("replayed") as sub:  # a seek is a new producer
        assert sub.call(CMD_REPLAY_SEEK, position=-5)["seeking"] == 0.0


@pytest.mark.parametrize("value", [None, [], "replay", {"start": 1}, {
    "start": "0", "end": 1, "position": 0, "speed": 1}, {
    "start": 0, "end": 1, "position": True, "speed": 1}])
def test_the_header_ignores_a_malformed_replay_state(value) -> None:
    """Any producer may publish a ``replay`` key: the header shows its controls only for one
    shaped as a replay's."""
    from webmon.server.replay_bar import replay_status

    assert replay_status(value) is None
    assert replay_status({"start": 0, "end": 1.5, "position": 1, "speed": 2}) is not None
