"""Producers killed with SIGKILL at random moments while they create and reshape segments
leave files in every stage of being made; each is named after its creator, and `webmon ls`
and a running dashboard's hub remove all of them."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults import attributed_files
from helpers import TESTS, child_env, shm_names, started_process, wait_until

from webmon.server import Hub

KILLS = 100


@contextlib.contextmanager
def fork_server() -> Iterator[subprocess.Popen]:
    with started_process([sys.executable, str(TESTS / "fork_server.py")], "fork server") as proc:
        yield proc


def kill_at_random(server: subprocess.Popen, kills: int, seed: int) -> set[int]:
    """Fork ``kills`` producers and SIGKILL each 0-40 ms after it was forked."""
    rng = random.Random(seed)
    pids = set()
    for i in range(kills):
        server.stdin.write(f"fork leak{i}\n")
        server.stdin.flush()
        pid = int(server.stdout.readline())
        time.sleep(rng.uniform(0.0, 0.04))
        os.kill(pid, signal.SIGKILL)
        pids.add(pid)
    for pid in pids:  # reaped by the server (SIGCHLD ignored): gone from /proc
        wait_until(lambda p=pid: not os.path.exists(f"/proc/{p}"), timeout=10,
                   message=f"killed producer {pid} reaped")
    return pids


def left_behind(runtime_dir: Path, pids: set[int]) -> list[str]:
    """What the killed producers left: every runtime-directory entry, and the segments
    their names attribute to them."""
    return sorted(set(os.listdir(runtime_dir)) | set(attributed_files(runtime_dir, pids)))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="lists /dev/shm")
def test_webmon_ls_removes_what_producers_killed_at_random_left(runtime_dir: Path) -> None:
    with fork_server() as server:
        pids = kill_at_random(server, KILLS, seed=16)
    leftovers = left_behind(runtime_dir, pids)
    kinds = {entry[0] if entry.startswith(".") else entry.rsplit(".", 1)[-1]
             if "." in entry else "segment" for entry in leftovers}
    # The kills did leave things behind.  Descriptors stay in this test's private runtime
    # directory; segments are in /dev/shm, where any webmon process of the same user (another
    # test run's hub, a dashboard) may sweep a dead creator's first, so they are not required.
    assert "json" in kinds, leftovers
    out = subprocess.run([sys.executable, "-m", "webmon.cli", "ls"], capture_output=True,
                         text=True, env=child_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "no live producers"
    assert left_behind(runtime_dir, pids) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="lists /dev/shm")
def test_a_running_hub_sweeps_them_within_seconds(runtime_dir: Path) -> None:
    with fork_server() as server:
        pids = kill_at_random(server, KILLS, seed=17)
        assert left_behind(runtime_dir, pids)
        hub = Hub(interval=0.1, discover_interval=1.0)
        try:
            def swept() -> bool:
                hub.tick()
                return left_behind(runtime_dir, pids) == []

            wait_until(swept, timeout=5, interval=0.1, message="everything swept")
        finally:
            hub.stop()


def test_a_live_producers_files_are_left_alone(runtime_dir: Path) -> None:
    from webmon import Publisher
    from webmon.shm import sweep_orphans

    with Publisher("alive") as pub:
        pub.stream("s", [("t", "<f8")])
        before = set(os.listdir(runtime_dir)), {n for n in shm_names()
                                                 if n.startswith(pub._token)}
        tmp = runtime_dir / f".{pub._token}abcdefgh"  # as if a descriptor were being written
        tmp.write_text("{}")
        assert sweep_orphans() == []
        assert (set(os.listdir(runtime_dir)), {n for n in shm_names()
                                               if n.startswith(pub._token)}) == (
            before[0] | {tmp.name}, before[1])
        tmp.unlink()
