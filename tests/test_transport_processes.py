"""Transport behaviour across real, separate processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from helpers import (
    IN_CI,
    TESTS,
    child_env,
    producer,
    python_interpreters,
    run_python,
    shm_names,
    wait_until,
)

from webmon import CommandError, ProducerInfo, Subscriber, discover
from webmon.shm import sweep_orphans

ATTACH_AND_EXIT = """
import sys
from webmon import Subscriber
sub = Subscriber("attach")
assert sub.read("loads").records.size >= 0
assert sub.state("config")[0]["name"] == "attach"
assert sub.array("thumb").shape == (8, 8)
sub.want("config")
print(sub.call("add", a=20, b=22))
print(sys.version_info[:2])
"""


def _interpreter_ids() -> list[str]:
    return [os.path.basename(os.path.dirname(os.path.dirname(p))) or p
            for p in python_interpreters()]


@pytest.mark.parametrize("python", python_interpreters(), ids=_interpreter_ids())
def test_subscriber_that_exits_leaves_segments_intact(python: str) -> None:
    """CPython gh-82300: a resource tracker in the reader would unlink the producer's
    segments when the reader exits.  Producer and reader here both run on ``python``."""
    with producer("serve", "attach", python=python) as proc:
        mine = {n for n in shm_names() if n.startswith(discover()[0].token)}
        assert len(mine) >= 5
        for _ in range(2):  # twice: a second reader must find everything still there
            done = run_python(ATTACH_AND_EXIT, python=python)
            assert done.returncode == 0, done.stderr
            assert done.stdout.split("\n")[0] == "42"
            assert "resource_tracker" not in done.stderr and "leaked" not in done.stderr
        assert {n for n in shm_names() if n in mine} == mine
        sub = Subscriber("attach")
        assert sub.state("config")[0]["levels"] == [1, 2, 4]
        assert sub.alive
        sub.close()
        assert proc.poll() is None
    assert not (mine & shm_names())  # the producer itself unlinked everything on exit


def test_ci_has_every_python() -> None:
    """CI must run the attach-and-exit test on 3.11, 3.12 and 3.13."""
    versions = set()
    for python in python_interpreters():
        out = subprocess.run([python, "-c", "import sys; print(sys.version_info[1])"],
                             capture_output=True, text=True, check=True).stdout
        versions.add(int(out))
    if IN_CI:
        assert {11, 12, 13} <= versions, f"CI runs Pythons 3.{sorted(versions)}"
    else:
        assert sys.version_info[1] in versions


def settled_producer(timeout: float = 10.0) -> ProducerInfo:
    """The one producer, once it has created its last key: the "serve" producer creates
    the state "wanted" in its loop, after printing READY, and rewrites its descriptor then,
    so a test that unlinks or reads the descriptor before that races with it."""
    def settled() -> ProducerInfo | None:
        found = discover()
        return found[0] if found and "wanted" in found[0].state else None

    return wait_until(settled, timeout, interval=0.01, message="'wanted' published")


def test_sigkilled_producer_is_forgotten_and_cleaned(runtime_dir) -> None:
    with producer("serve", "victim") as proc:
        info = settled_producer()
        names = set(info.segment_names())
        assert names <= shm_names()
        sub = Subscriber(info)
        sub.read("loads")
        assert sub.state("config")[0]["name"] == "victim"
        assert sub.alive
        os.kill(proc.pid, signal.SIGKILL)
        # (a zombie until reaped: still detected as dead)
        wait_until(lambda: not discover(clean=False), timeout=5,
                   message="the killed producer no longer listed")
        assert not sub.alive
        sub.read("loads")  # no exception: the mapping is still there
        # Nothing is removed from this test's runtime directory until someone discovers.
        # (Its segments in /dev/shm may already be gone: any webmon process of the user,
        # such as a concurrent test run, sweeps a dead creator's segments.)
        assert sorted(os.listdir(runtime_dir)) == sorted(
            os.path.basename(p) for p in (info.path, info.path[:-len(".json")] + ".lock"))
        assert discover() == []
        assert not (names & shm_names())
        assert os.listdir(runtime_dir) == []
        sub.read("loads")
        assert sub.state("config")[0]["name"] == "victim"  # attached before: still readable
        assert sub.state("never-read") == (None, 0)
        with pytest.raises(CommandError, match="not running"):
            sub.call("add", a=1, b=2)
        sub.close()


def test_ls_cleans_up_dead_producers(runtime_dir) -> None:
    with producer("serve", "victim") as proc:
        names = set(discover()[0].segment_names())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        out = subprocess.run([sys.executable, "-m", "webmon.cli", "ls"], capture_output=True,
                             text=True, env=child_env(), timeout=60)
        assert out.returncode == 0, out.stderr
        assert not (names & shm_names())
        assert os.listdir(runtime_dir) == []


def test_orphaned_segments_are_swept(runtime_dir) -> None:
    """Segments whose descriptor vanished (say, /tmp was wiped) are recognised by the pid
    stamped in each segment and removed once that process is dead."""
    with producer("serve", "orphan") as proc:
        info = settled_producer()
        names = set(info.segment_names())
        assert sweep_orphans() == []  # described and alive: untouched
        os.unlink(info.path)
        assert sweep_orphans() == []  # alive: untouched even without a descriptor
        assert names <= shm_names()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        sweep_orphans()  # (a concurrent test run on the same machine may sweep them first)
        assert not (names & shm_names())


def test_commands_across_processes() -> None:
    with producer("serve", "cmd") as proc:
        sub = Subscriber("cmd")
        assert sub.call("add", a=1, b=2) == 3
        assert sub.call("record", x=1) == 1
        with pytest.raises(CommandError, match="unknown command 'rm'"):
            sub.call("rm", path="/")
        with pytest.raises(CommandError, match="ZeroDivisionError: division by zero"):
            sub.call("fail")
        with pytest.raises(CommandError, match="bad arguments"):
            sub.call("add", a=1, b=2, c=3)
        # The producer polls no more until told "go" on its stdin: the call times out.
        assert sub.call("stop_polling") == "ok"
        with pytest.raises(CommandError, match="timed out"):
            sub.call("record", y=2, timeout=0.3)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        # the timed-out call was answered "expired" and never ran
        assert sub.call("record", z=3) == 2
        assert sub.state("calls")[0] == ["[('x', 1)]", "[('z', 3)]"]
        sub.close()


def test_interest_reaches_the_producer() -> None:
    with producer("serve", "interest"):
        sub = Subscriber("interest")
        wait_until(lambda: sub.state("wanted")[1] > 0, interval=0.01,
                   message="'wanted' published")
        assert sub.state("wanted")[0] is False
        wait_until(lambda: sub.state("wanted")[0] is True, timeout=5, interval=0.02,
                   each=lambda: sub.want("config"), message="the interest seen")
        sub.close()


def test_array_snapshots_are_consistent_while_rewritten() -> None:
    with producer("array", "arr", 8 << 20):  # 8 MiB rewritten hundreds of times a second
        sub = Subscriber("arr")
        seen = set()
        for _ in range(60):
            frame = sub.array("frame")
            first = frame[0]
            assert np.all(frame == first), "torn snapshot"
            seen.add(int(first))
        assert len(seen) > 5  # the producer really was rewriting meanwhile
        sub.close()


def test_state_is_whole_while_rewritten() -> None:
    with producer("state", "st"):
        sub = Subscriber("st")
        versions = set()

        def whole_values_of_many_versions() -> bool:
            value, version = sub.state("value")
            if value is not None:
                k = value["k"]
                assert value["payload"] == [k] * (1000 + k % 5000)
                versions.add(version)
            return len(versions) > 20

        wait_until(whole_values_of_many_versions, interval=0.0,
                   message="21 versions read whole")
        sub.close()


@pytest.mark.slow
def test_stress_two_readers_at_different_speeds() -> None:
    total = 2_000_000
    with producer("stress", "stress", total, 8192, timeout=120) as proc:
        readers = [
            subprocess.Popen([sys.executable, str(TESTS / "reader_proc.py"), "stress", "stress",
                              str(total), delay, maxr], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=child_env())
            for delay, maxr in (("0", "0"), ("0.005", "1000"))
        ]
        for r in readers:
            assert r.stdout.readline().strip() == "ATTACHED", r.stderr.read()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        results = []
        for r in readers:
            out, err = r.communicate(timeout=280)
            assert r.returncode == 0, err
            results.append(json.loads(out))
        sub = Subscriber("stress")
        wait_until(lambda: sub.state("done")[0] == total, timeout=60,
                   message="the producer done")
        assert sub.written("stress") == total
        sub.close()
    fast, slow = results
    print("fast reader:", fast, "slow reader:", slow)
    for res in results:
        assert res["bad"] == 0 and res["disorder"] == 0, res
        assert res["received"] + res["lost"] == total, res
        assert res["cursor"] == total
    # At most 200,000 records/s: the slow reader really fell behind and was told exactly.
    assert slow["lost"] > 0
