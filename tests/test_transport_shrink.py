"""A segment shrunk under its readers (another process of the same user truncates it):
reading a mapping past the new end would kill the reader with SIGBUS.  The readers here run
in a process of their own, so that a fault fails the test instead of killing pytest."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from faults import truncate
from helpers import child_env, producer

from webmon import discover

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="truncates segments through /dev/shm")

READER = textwrap.dedent("""
    import time
    from webmon import Subscriber, WebmonError
    sub = Subscriber("still")

    def read_stream_again():
        sub._streams["records"].cursor = 0  # every record, every time
        return sub.read("records")

    reads = {
        "stream": read_stream_again,
        "state": lambda: sub.state("config"),
        "array": lambda: sub.array("thumb"),
        "array_region": lambda: sub.array("thumb", region=(slice(3, None, 7),)),
        "heartbeat": lambda: sub.heartbeat,
        "want": lambda: sub.want("config"),
    }
    for read in reads.values():
        read()
    print("READY", flush=True)
    errors = {}
    deadline = time.monotonic() + 20
    while len(errors) < len(reads) and time.monotonic() < deadline:
        for what, read in reads.items():
            try:
                read()
            except WebmonError as exc:
                errors.setdefault(what, str(exc))
    for what in reads:
        print(what, errors.get(what, "no error"), flush=True)
    print("alive", "yes" if sub.alive else "no", flush=True)
""")


def test_readers_survive_segments_shrunk_under_them() -> None:
    with producer("still", "still"):
        info = next(i for i in discover() if i.name == "still")
        raw = info.raw
        reader = subprocess.Popen([sys.executable, "-c", READER], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=child_env())
        try:
            assert reader.stdout.readline().strip() == "READY", reader.stderr.read()
            for segment in (raw["streams"]["records"]["segment"],
                            raw["state"]["config"]["segment"],
                            raw["arrays"]["thumb"]["segment"], raw["control"]):
                truncate(segment)
            out, err = reader.communicate(timeout=60)
        finally:
            if reader.poll() is None:
                reader.kill()
        assert reader.returncode != -signal.SIGBUS, "the reader died of SIGBUS"
        assert reader.returncode == 0, err
        lines = dict(line.split(" ", 1) for line in out.splitlines())
        for what in ("stream", "state", "array", "array_region", "heartbeat", "want"):
            assert "shrank" in lines[what], (what, lines[what])
        assert lines["alive"] == "no"  # its heartbeat cannot be read any more
        # (The producer itself dies of SIGBUS at its next heartbeat into the truncated
        # control segment: a producer is not protected from its own segments shrinking.)
