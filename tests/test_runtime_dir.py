"""The runtime directory as another process or another local user could leave it: entries
that are FIFOs, links or huge files, a directory created first by someone else, and
segment names taken before the producer gets to them."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from faults import HOSTILE_ENTRIES, hostile_entry
from helpers import child_env, shm_names

from webmon import Publisher, Subscriber, WebmonError, discover
from webmon.shm import names, rundir
from webmon.shm.process import process_start_time

HOSTILE_DISCOVERY = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a runaway read fails
    from webmon import Publisher, discover

    def bytes_read():
        with open("/proc/self/io") as f:
            return int(next(line for line in f if line.startswith("rchar")).split()[1])

    with Publisher("real"):
        before = bytes_read()
        found = [i.name for i in discover()]
        print(found, bytes_read() - before, flush=True)
""")


def discover_beside(runtime_dir: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run a producer and ``discover()`` in a child with bounded memory and time: a FIFO
    that blocks the reader, or a link to an endless file, fails the test instead of
    freezing or exhausting the machine."""
    return subprocess.run([sys.executable, "-c", HOSTILE_DISCOVERY], capture_output=True,
                          text=True, env=child_env(), timeout=timeout)


@pytest.mark.parametrize("kind", HOSTILE_ENTRIES)
def test_hostile_entries_named_like_descriptors_are_skipped(runtime_dir: Path, kind) -> None:
    hostile_entry(runtime_dir, kind)
    result = discover_beside(runtime_dir)
    assert result.returncode == 0, result.stderr
    found, read = result.stdout.rsplit(" ", 1)
    assert found == "['real']"
    assert int(read) < 1 << 20  # the entry was not read, let alone 100 MB of it


def test_read_small_file_refuses_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(WebmonError, match="not a regular file"):
        rundir.read_small_file(str(fifo))  # would block forever if opened to read
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(rundir.MAX_DESCRIPTOR_BYTES + 1)
    with pytest.raises(WebmonError, match="over the 1,048,576"):
        rundir.read_small_file(str(huge))
    link = tmp_path / "link.json"
    os.symlink(huge, link)
    with pytest.raises(WebmonError, match="unreadable"):
        rundir.read_small_file(str(link))


def test_a_default_directory_taken_by_someone_else_falls_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With no XDG_RUNTIME_DIR, the default is ``<tmp>/webmon-<uid>``, which any local
    user can create first.  A link there (any user could make it) or a directory another
    uid owns is never used; producers and dashboards meet in the fallback instead."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    cache = tmp_path / "cache"
    squatted = tmp / f"webmon-{os.getuid()}"
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir(mode=0o777)
    os.symlink(elsewhere, squatted)
    with monkeypatch.context() as patch:
        patch.delenv("WEBMON_RUNTIME_DIR")
        patch.delenv("XDG_RUNTIME_DIR", raising=False)
        patch.setenv("TMPDIR", str(tmp))
        patch.setenv("XDG_CACHE_HOME", str(cache))
        patch.setattr("tempfile.tempdir", None)  # TMPDIR is read again
        with caplog.at_level(logging.WARNING, logger="webmon"), Publisher("fallback"):
            used = rundir.runtime_dir()
            assert used == rundir.fallback_directory() and used.startswith(str(cache))
            assert stat.S_IMODE(os.stat(used).st_mode) == 0o700
            assert os.listdir(elsewhere) == []
            child = subprocess.run(
                [sys.executable, "-c", "from webmon import discover; "
                                       "print([i.name for i in discover()])"],
                capture_output=True, text=True, env=child_env(), timeout=60)
            assert child.stdout.strip() == "['fallback']", child.stderr
        assert str(squatted) in caplog.text and "not a directory" in caplog.text
        if os.getuid() == 0:  # only root can give a directory to another uid
            os.unlink(squatted)
            squatted.mkdir(mode=0o700)
            os.chown(squatted, 12345, 12345)
            assert rundir.runtime_dir() == rundir.fallback_directory()
            with pytest.raises(rundir.UnsafeDirectory, match="belongs to uid 12345"):
                rundir.private_directory(str(squatted))


def test_an_explicit_directory_that_is_not_private_fails_clearly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "link"
    os.symlink(target, link)
    with monkeypatch.context() as patch:
        patch.setenv("WEBMON_RUNTIME_DIR", str(link))
        with pytest.raises(WebmonError,
                           match=rf"{link} is not a directory.*set WEBMON_RUNTIME_DIR"):
            Publisher("p")


def test_an_unsafe_xdg_runtime_directory_fails_clearly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    (xdg / "webmon").symlink_to(tmp_path)
    with monkeypatch.context() as patch:
        patch.delenv("WEBMON_RUNTIME_DIR")
        patch.setenv("XDG_RUNTIME_DIR", str(xdg))
        with pytest.raises(WebmonError, match=rf"{xdg / 'webmon'} is not a directory.*"
                                              rf"remove {xdg / 'webmon'}, or set "
                                              "WEBMON_RUNTIME_DIR"):
            Publisher("p")


def test_a_runtime_directory_of_ours_open_to_others_is_closed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = tmp_path / "opened"
    opened.mkdir()
    opened.chmod(0o777)
    with monkeypatch.context() as patch:
        patch.setenv("WEBMON_RUNTIME_DIR", str(opened))
        with Publisher("p"):
            assert stat.S_IMODE(opened.stat().st_mode) == 0o700
            assert [i.name for i in discover()] == ["p"]


def test_names_say_who_made_them() -> None:
    with Publisher("p") as pub:
        pub.stream("s", [("t", "<f8")])
        creator = names.token_creator(pub._token)
        assert creator == (os.getpid(), process_start_time(os.getpid()) % names.START_MODULO)
        made = {n for n in shm_names() if n.startswith(pub._token)}
        assert len(made) == 3 and all(names.segment_token(n) == pub._token for n in made)
        assert all(len(n) + 1 <= 31 for n in made)  # macOS's limit


def test_segment_names_taken_first_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process of any user can create the name a producer was about to use; the
    producer takes a fresh one, and the squatter's segment is left as it was."""
    from webmon.shm.segment import Segment

    with Publisher("p") as pub:
        squatted = names.segment_name(pub._token, "s")
        squatter = Segment.create(squatted, 4096)
        draws = iter([squatted[-6:], "abcdef"])
        with monkeypatch.context() as patch:
            patch.setattr(names.secrets, "token_hex", lambda n: next(draws))
            writer = pub.stream("s", [("t", "<f8")], capacity=8)
        assert writer.segment.name == pub._token + "sabcdef"
        writer.append((1.0,))
        with Subscriber("p") as sub:
            assert sub.read("s").records["t"].tolist() == [1.0]
        assert squatter.size == 4096 and bytes(squatter.buf[:8]) == b"\0" * 8
        squatter.close()
        squatter.unlink()


def test_segments_are_created_private(runtime_dir: Path) -> None:
    with Publisher("p") as pub:
        pub.share_array("a", np.zeros(3))
        for name in (n for n in shm_names() if n.startswith(pub._token)):
            st = os.stat(f"/dev/shm/{name}")
            assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()
