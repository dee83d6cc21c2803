"""Helpers for the recording tests: ``webmon record`` as a process, and checks that a
recording holds exactly what was written minus what it says was lost."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import numpy as np
from helpers import child_env, producer


def recording_producer(name: str, *args: str
                       ) -> contextlib.AbstractContextManager[subprocess.Popen]:
    """The test producer's ``recording`` kind, publishing as ``name``, until the block ends."""
    return producer("recording", name, *args)


def webmon_process(*args: str, **options: object) -> subprocess.Popen:
    """``python -m webmon.cli ARGS`` with its output piped."""
    return subprocess.Popen([sys.executable, "-m", "webmon.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(), stdin=subprocess.DEVNULL, **options)


def run_webmon(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webmon.cli", *args], capture_output=True,
                          text=True, env=child_env(), timeout=timeout,
                          stdin=subprocess.DEVNULL)


def check_seq_exact(seq: np.ndarray, first: int, end: int, lost: int) -> None:
    """Recorded sequence numbers are the indices ``[first, end)`` minus exactly ``lost`` of
    them, in order, each once."""
    seq = np.asarray(seq, dtype=np.int64)
    assert len(seq) == (end - first) - lost, (len(seq), first, end, lost)
    if len(seq):
        assert seq.min() >= first and seq.max() < end
        assert np.all(np.diff(seq) > 0), "records out of order or repeated"


def check_seq_fields(frame: object) -> None:
    """Every field of each recorded ``seq`` record is the one its number implies."""
    seq = frame["seq"].to_numpy().astype(np.int64)
    assert np.array_equal(frame["triple"].to_numpy(), 3 * seq)
    assert [bytes(t) for t in frame["tag"]] == [b"%d" % (s % 1000) for s in seq]
    pairs = np.stack(frame["pair"].to_numpy())
    assert np.array_equal(pairs[:, 0], (seq % 97).astype(np.float32))
