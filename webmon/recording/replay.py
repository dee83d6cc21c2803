"""Replaying a recording: publishing it back into shared memory as a producer, so that every
tab of the dashboard shows it as it showed the live producer, with no special case.

The replay's producer is named after the recording.  It publishes each stream's records,
each state change and each array snapshot when the replay's clock passes the time the
recorder read it, at the chosen speed.  It also publishes the ``replay`` state (where the
replay stands) and answers ``replay_play``, ``replay_pause``, ``replay_speed`` and
``replay_seek``, which the dashboard's header sends.  Every command the recorded producer had
is registered too, and refused with a clear "replaying a recording" message, so that the
tabs' controls say why nothing happens.

Seeking opens a new Publisher of the same name (the old one is closed just after): the hub
follows it as a new producer, so every tab starts over and refills its window from what the
replay publishes at once, the last ``BACKFILL_S`` seconds before the new position.

``python -m webmon.recording.replay PATH [--name N] [--speed X]`` runs it until stdin
closes or SIGTERM (``webmon replay`` starts it beside a dashboard).
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from webmon.schema import (
    CMD_REPLAY_PAUSE,
    CMD_REPLAY_PLAY,
    CMD_REPLAY_SEEK,
    CMD_REPLAY_SPEED,
    REPLAY,
    REPLAY_SPEEDS,
)
from webmon.shm import Publisher
from webmon.shm.about import dtype_with_about

from .load import ArrayHistory, Recording
from .tracks import StateTrack, StreamTrack

log = logging.getLogger(__name__)

#: What a seek publishes at once from before the new position: the tabs' widest window
#: (the loader's throughput chart) is a minute.
BACKFILL_S = 60.0
#: How often the replay publishes what came due, and runs commands.
TICK_S = 0.02
#: How often the ``replay`` state is republished while playing.
STATE_PERIOD_S = 0.25
#: Rings hold at least this many records (a recorded ring may have been smaller), so that a
#: seek's backfill fits; bounded in bytes for wide records.
MIN_CAPACITY = 1 << 17
MAX_RING_BYTES = 64 << 20
MIN_SPEED, MAX_SPEED = min(REPLAY_SPEEDS), max(REPLAY_SPEEDS)
_NAME = re.compile(r"[^\w.\-]")

REFUSED = "replaying a recording: {command!r} is not sent anywhere (the recorded producer " \
          "is not running here)"


def replay_name(path: Path | str) -> str:
    """A producer name for the recording at ``path``: its directory's name, with what a
    producer name may not hold replaced by ``_``."""
    name = _NAME.sub("_", Path(path).resolve().name)[:64].strip(".")
    return name or "replay"


class Replayer:
    """Publishes ``recording`` as producer ``name`` (see the module's docstring)."""

    def __init__(self, recording: Recording, name: str | None = None, *,
                 speed: float = 1.0) -> None:
        self.recording = recording
        self.name = name or replay_name(recording.path)
        self.speed = check_speed(speed)
        self.start = recording.started
        self.end = max(recording.ended, self.start)
        self.position = self.start
        self.playing = True
        producer = recording.producer
        self.producer_label = f"{producer.get('name')}@{producer.get('pid')}"
        self.app = f"replay of {self.producer_label} ({producer.get('app', '')})"
        self.streams = {name: StreamTrack(recording, name) for name in recording.streams}
        # Each stream's dtype with the units and descriptions its producer gave.
        self._dtypes = {name: dtype_with_about(track.dtype, recording.about(name))
                        for name, track in self.streams.items()}
        self.states = {key: StateTrack(recording.path / entry["file"])
                       for key, entry in recording.manifest["state"].items()}
        self.arrays: dict[str, ArrayHistory] = {name: recording.arrays[name]
                                                for name in recording.arrays}
        self._state_shown: dict[str, int] = {}
        self._array_shown: dict[str, int] = {}
        self._pending_seek: float | None = None
        self._last_state = -float("inf")
        self._clock = time.monotonic()
        self.pub: Publisher | None = None
        self.seeks = 0
        self.ticks = 0

    # -- the producer --------------------------------------------------------------------------
    def _open(self) -> Publisher:
        pub = Publisher(self.name, app=self.app)
        try:
            for name, track in self.streams.items():
                entry = self.recording.manifest["streams"][name]
                slot = track.dtype.itemsize + 16
                capacity = max(int(entry.get("capacity", 0) or 0),
                               min(MIN_CAPACITY, MAX_RING_BYTES // slot))
                pub.stream(name, self._dtypes[name], capacity=capacity)
            pub.register_command(CMD_REPLAY_PLAY, self.play)
            pub.register_command(CMD_REPLAY_PAUSE, self.pause)
            pub.register_command(CMD_REPLAY_SPEED, self.set_speed)
            pub.register_command(CMD_REPLAY_SEEK, self.seek)
            for command in self.recording.producer.get("commands") or []:
                if isinstance(command, str) and command not in pub.commands:
                    pub.register_command(command, _refuse(command))
        except BaseException:
            pub.close()
            raise
        return pub

    def open(self) -> None:
        """Publish the recording's beginning (and the first values of its state)."""
        self._publish_from(self.start)

    def _publish_from(self, t: float) -> None:
        """A new Publisher showing the replay at ``t``: each stream's last ``BACKFILL_S``
        seconds before it, each state key's and array's value then."""
        old, self.pub = self.pub, self._open()
        pub = self.pub
        self.position = t
        for name, track in self.streams.items():
            writer = pub.stream(name, self._dtypes[name])
            records = track.window(t - BACKFILL_S, t, writer.capacity // 2)
            if len(records):
                writer.extend(records)
            track.seek(t)
        self._state_shown.clear()
        self._array_shown.clear()
        self._publish_state_at(t, pub)
        self._publish_arrays_at(t, pub)
        self._publish_replay(pub)
        if old is not None:
            # A command sent while the new Publisher was being filled went to the old one's
            # mailbox (the hub follows the new one only once it has found it): run it now,
            # or its caller would wait its whole timeout for a producer that never polls.
            old.poll()
            old.close()

    # -- commands (run by poll(), on the replay's thread) --------------------------------------
    def play(self) -> dict[str, Any]:
        if self.position >= self.end:
            self._pending_seek = self.start  # play at the end starts again
        self.playing = True
        self._last_state = -float("inf")
        return self.status()

    def pause(self) -> dict[str, Any]:
        self.playing = False
        self._last_state = -float("inf")
        return self.status()

    def set_speed(self, speed: Any) -> dict[str, Any]:
        self.speed = check_speed(speed)
        self._last_state = -float("inf")
        return self.status()

    def seek(self, position: Any) -> dict[str, Any]:
        """Go to ``position`` seconds from the recording's start (done after this command
        returns: the reply goes out through the Publisher a seek replaces)."""
        if isinstance(position, bool) or not isinstance(position, int | float) \
                or not np.isfinite(position):
            raise ValueError(f"position must be a number of seconds, not {position!r}")
        self._pending_seek = self.start + min(max(float(position), 0.0), self.end - self.start)
        return {**self.status(), "seeking": self._pending_seek - self.start}

    def status(self) -> dict[str, Any]:
        return {
            "recording": self.recording.path.name, "producer": self.producer_label,
            "app": self.recording.producer.get("app", ""), "start": self.start,
            "end": self.end, "position": self.position, "playing": self.playing,
            "speed": self.speed, "speeds": list(REPLAY_SPEEDS),
        }

    # -- the clock -------------------------------------------------------------------------------
    def step(self) -> None:
        """Run commands, move the clock, publish what came due."""
        pub = self.pub
        assert pub is not None
        self.ticks += 1
        pub.poll()
        now = time.monotonic()
        elapsed, self._clock = now - self._clock, now
        if self._pending_seek is not None:
            target, self._pending_seek = self._pending_seek, None
            self._publish_from(target)
            self.seeks += 1
            return
        if self.playing:
            self.position = min(self.end, self.position + elapsed * self.speed)
            for name, track in self.streams.items():
                records = track.due(self.position)
                if len(records):
                    pub.stream(name, self._dtypes[name]).extend(records)
            self._publish_state_at(self.position, pub)
            if self.position >= self.end:
                self.playing = False
                self._last_state = -float("inf")
        if now - self._last_state >= STATE_PERIOD_S:
            self._publish_replay(pub)
            self._publish_arrays_at(self.position, pub)
            self._last_state = now

    def run(self, stop: threading.Event) -> None:
        if self.pub is None:
            self.open()
        self._clock = time.monotonic()
        while not stop.is_set():
            started = time.monotonic()
            self.step()
            stop.wait(max(0.0, TICK_S - (time.monotonic() - started)))

    def close(self) -> None:
        if self.pub is not None:
            self.pub.close()

    # -- publishing ------------------------------------------------------------------------------
    def _publish_replay(self, pub: Publisher) -> None:
        pub.set_state(REPLAY, self.status())

    def _publish_state_at(self, t: float, pub: Publisher) -> None:
        for key, track in self.states.items():
            index = track.index_at(t)
            if index < 0 or self._state_shown.get(key) == index:
                continue
            self._state_shown[key] = index
            ok, value = track.value(index)
            if not ok:
                continue
            try:
                pub.set_state(key, value)
            except ValueError:  # larger than the default slot: make room and publish
                pub.reserve_state(key, 2 * len(_json_size(value)))
                pub.set_state(key, value)
            except TypeError as exc:
                log.warning("state %r at %.3f cannot be published: %s", key, t, exc)

    def _publish_arrays_at(self, t: float, pub: Publisher) -> None:
        for name, history in self.arrays.items():
            index = int(np.searchsorted(history.times, t, side="right")) - 1
            if index < 0 or self._array_shown.get(name) == index:
                continue
            self._array_shown[name] = index
            try:
                pub.share_array(name, history[index])
            except Exception as exc:  # a damaged snapshot: say so, keep replaying
                log.warning("array %r snapshot %d cannot be replayed: %s", name, index, exc)


def _json_size(value: Any) -> bytes:
    from webmon.shm.state import encode

    return encode("value", value)


def _refuse(command: str) -> Any:
    def refuse(**_kwargs: Any) -> None:
        raise ValueError(REFUSED.format(command=command))

    return refuse


def check_speed(speed: Any) -> float:
    if isinstance(speed, bool) or not isinstance(speed, int | float) \
            or not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(f"speed must be a number from {MIN_SPEED:g} to {MAX_SPEED:g}, "
                         f"not {speed!r}")
    return float(speed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m webmon.recording.replay",
                                     description="Publish a recording as a producer.")
    parser.add_argument("path")
    parser.add_argument("--name", default=None)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--stop-on-stdin-eof", action="store_true",
                        help="stop when stdin closes (how webmon replay stops it)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    replayer = Replayer(Recording(args.path), args.name, speed=args.speed)
    replayer.open()
    try:
        print("READY", flush=True)
        if args.stop_on_stdin_eof:
            threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
        replayer.run(stop)
    finally:
        replayer.close()


if __name__ == "__main__":
    main()
