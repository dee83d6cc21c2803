"""Recording a live producer (``webmon record``, ``webmon.record``) and reading it back with
webmon, and with pandas and pyarrow alone: every record written during the recording is in
it, or counted lost."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from helpers import wait_until
from producers.recording import SEQ_DTYPE
from recording_helpers import (
    check_seq_exact,
    check_seq_fields,
    recording_producer,
    run_webmon,
    webmon_process,
)

import webmon
from webmon import Publisher, Subscriber
from webmon.recording import load
from webmon.recording.recorder import HOT_POLL_S, next_interval
from webmon.schema import CHUNK_DTYPE


def _parts(path: Path, stream: str) -> list[Path]:
    return sorted((path / "streams" / stream).glob("part-*.parquet"))


def test_record_reads_back_exactly(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    with recording_producer("rec-exact", "--rate", "3000") as proc:
        recorder = webmon_process("record", "--producer", "rec-exact", "-o", str(out),
                                  "--duration", "3")
        wait_until(lambda: (out / "manifest.json").exists(), timeout=30,
                   message="the recording started")
        with Subscriber("rec-exact") as sub:
            sub.call("make_late")  # a stream created while recording
        stdout, stderr = recorder.communicate(timeout=60)
        assert recorder.returncode == 0, stderr
        assert "recording rec-exact@" in stdout and f"saved {out}" in stdout
        # Progress: elapsed, records, state changes, MB and records lost.
        assert re.search(r"^\s+\d+\.\d s\s+[\d,]+ records\s+[\d,]+ state changes\s+"
                         r"[\d.]+ MB\s+\d+ lost$", stdout, re.MULTILINE), stdout
    rec = load(out)
    assert rec.problems == [] and rec.status == "complete"
    assert rec.producer["name"] == "rec-exact" and rec.producer["pid"] == proc.pid
    assert rec.producer["commands"] == ["make_late", "ping"]
    assert 2.9 < rec.duration < 10

    entry = rec.manifest["streams"]["seq"]
    frame = rec.streams["seq"]
    assert entry["records"] == len(frame) > 1000
    assert entry["lost"] == rec.lost("seq") == 0
    check_seq_exact(frame["seq"], entry["first_index"], entry["end_index"], entry["lost"])
    check_seq_fields(frame)
    assert entry["parts"] == len(_parts(out, "seq")) >= 3  # one a second at least

    # The exact numpy records come back too, dtype and all.
    records = rec.records("seq")
    assert records.dtype == SEQ_DTYPE
    assert np.array_equal(records["seq"], frame["seq"].to_numpy())
    assert len(rec.read_times("seq")) == len(records)

    # A stream created during the recording is recorded from its first record.
    late = rec.manifest["streams"]["late"]
    assert late["first_index"] == 0 and late["records"] == len(rec.streams["late"]) > 0
    check_seq_exact(rec.streams["late"]["seq"], 0, late["end_index"], late["lost"])

    # State: every change seen, in order, with its version and the time it was read.
    counter = rec.states["counter"]
    assert len(counter) >= 3 and counter.index.name == "time"
    assert all(np.diff(counter.index.to_numpy()) >= 0)
    ns = [value["n"] for value in counter]
    assert ns == sorted(ns) and len(set(ns)) == len(ns)
    versions = rec.state_frame("counter")["version"].to_numpy()
    assert np.all(np.diff(versions) > 0)

    # Arrays: one snapshot per change, at most once a second.
    image = rec.arrays["image"]
    assert 2 <= len(image) <= 5
    values = [int(image[i][0, 0]) for i in range(len(image))]
    assert values == sorted(values) and image[0].shape == (4, 6)
    assert image.at(image.times[-1] + 1)[0, 0] == values[-1]
    assert image.at(image.times[0] - 1) is None

    # Private: the directory and every file are the user's alone.
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for path in out.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_pandas_and_pyarrow_alone_read_it(tmp_path: Path) -> None:
    """What docs/recording.md shows, without webmon."""
    out = tmp_path / "rec"
    with recording_producer("rec-plain", "--rate", "2000"):
        result = run_webmon("record", "-o", str(out), "--duration", "2.5", "--quiet")
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["streams"]["seq"]

    frame = pd.read_parquet(out / entry["dir"])  # a directory of parts, in order
    assert len(frame) == entry["records"]
    check_seq_exact(frame["seq"], entry["first_index"], entry["end_index"], entry["lost"])
    check_seq_fields(frame)
    assert list(frame.columns) == ["time", "seq", "triple", "tag", "pair"]

    table = ds.dataset(out / entry["dir"], format="parquet").to_table()
    assert table.num_rows == entry["records"]
    assert pq.read_table(_parts(out, "seq")[0]).num_rows > 0

    state = pd.read_json(out / manifest["state"]["counter"]["file"], lines=True)
    assert list(state.columns) == ["time", "version", "value"]
    assert len(state) == manifest["state"]["counter"]["changes"]
    index = pd.read_json(out / manifest["arrays"]["image"]["dir"] / "index.jsonl", lines=True)
    first = np.load(out / manifest["arrays"]["image"]["dir"] / index["file"][0])
    assert first.shape == (4, 6) and first.dtype == np.uint16


def test_losses_are_counted_exactly(tmp_path: Path) -> None:
    """A ring far too small for the rate: the recorder loses records, and says exactly how
    many, where."""
    out = tmp_path / "rec"
    with recording_producer("rec-lossy", "--rate", "100000", "--batch", "2000",
                            "--capacity", "2048"):
        result = run_webmon("record", "-o", str(out), "--duration", "2", "--quiet")
        assert result.returncode == 0, result.stderr
    rec = load(out)
    entry = rec.manifest["streams"]["seq"]
    assert entry["lost"] > 0 and rec.lost() == entry["lost"]
    check_seq_exact(rec.streams["seq"]["seq"], entry["first_index"], entry["end_index"],
                    entry["lost"])
    losses = rec.losses
    assert losses["lost"].sum() == entry["lost"] and set(losses["stream"]) == {"seq"}
    assert (losses["end"] > losses["start"]).all()


def test_sigkill_leaves_every_closed_part_readable(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    with recording_producer("rec-kill", "--rate", "3000"):
        proc = webmon_process("record", "-o", str(out), "--quiet")
        try:
            wait_until(lambda: len(_parts(out, "seq")) >= 3, timeout=30,
                       message="three parts written")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
    rec = load(out)
    assert rec.status == "recording"
    assert any("stopped without closing" in p for p in rec.problems), rec.problems
    frame = pd.read_parquet(out / "streams" / "seq")
    parts = _parts(out, "seq")
    assert len(frame) == sum(pq.read_metadata(p).num_rows for p in parts)
    assert len(rec.streams["seq"]) == len(frame) >= rec.manifest["streams"]["seq"]["records"]
    # No loss in what was flushed: the records are every number from the first on.
    seq = frame["seq"].to_numpy().astype(np.int64)
    first = rec.manifest["streams"]["seq"]["first_index"]
    assert np.array_equal(seq, np.arange(first, first + len(seq)))
    check_seq_fields(frame)


def test_producer_gone_closes_the_recording(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    with recording_producer("rec-gone", "--rate", "2000") as producer:
        proc = webmon_process("record", "-o", str(out))
        wait_until(lambda: len(_parts(out, "seq")) >= 2, timeout=30,
                   message="two parts written")
        producer.send_signal(signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "webmon record: producer rec-gone@" in lines[0]
    assert "exited at" in lines[0] and str(out) in lines[0]
    rec = load(out)
    assert rec.status == "producer-gone" and rec.problems == []
    entry = rec.manifest["streams"]["seq"]
    check_seq_exact(rec.streams["seq"]["seq"], entry["first_index"], entry["end_index"],
                    entry["lost"])
    assert entry["lost"] == 0


def test_record_inside_the_application(tmp_path: Path) -> None:
    """``webmon.record`` as a context manager and with start/stop, in the producer's own
    process, with names that are not file names."""
    with Publisher("rec-inproc", app="test") as pub:
        loads = pub.stream("chunk_loads", CHUNK_DTYPE)
        odd = pub.stream("../up/and away", np.dtype([("x", "<i4")]))
        loads.append((1.0, 1, 0, 0, 0, 10, 1.0, 0, 0.0))  # before: not recorded
        with webmon.record(tmp_path / "a") as recorder:
            assert recorder.path == tmp_path / "a"
            for i in range(500):
                loads.append((time.time(), 1, i % 3, i, i, 10, 1.0, 0, 0.0))
            odd.extend(np.arange(7, dtype="<i4").view(odd.dtype))
            pub.set_state("key/with/slashes", {"i": 1})
            pub.share_array("..", np.ones(3))
            time.sleep(0.3)
            pub.set_state("key/with/slashes", {"i": 2})
        rec = load(tmp_path / "a")
        assert len(rec.streams["chunk_loads"]) == 500 and rec.status == "complete"
        assert list(rec.streams["chunk_loads"]["row"]) == list(range(500))
        assert rec.streams["../up/and away"]["x"].tolist() == list(range(7))
        assert [v["i"] for v in rec.states["key/with/slashes"]] == [1, 2]
        assert rec.arrays[".."][0].tolist() == [1.0, 1.0, 1.0]
        files = {p.name for p in (tmp_path / "a").rglob("*")}
        assert ".." not in files and not any("/" in f for f in files)
        for entry in rec.manifest["streams"].values():
            assert (tmp_path / "a" / entry["dir"]).parent == tmp_path / "a" / "streams"

        recorder = webmon.record(tmp_path / "b", producer=pub)
        recorder.start()
        loads.append((time.time(), 1, 0, 1, 2, 10, 1.0, 0, 0.0))
        progress = recorder.stop()
        assert progress.records == 1 and progress.status == "complete"
        assert len(load(tmp_path / "b").streams["chunk_loads"]) == 1


def test_record_chooses_among_producers(tmp_path: Path) -> None:
    with recording_producer("rec-a"), recording_producer("rec-a"):
        result = run_webmon("record", "--producer", "rec-a", "-o", str(tmp_path / "x"),
                            "--duration", "1")
        assert result.returncode == 1
        assert result.stderr.startswith("webmon record: 2 live producers are named 'rec-a'")
        assert "NAME@PID" in result.stderr and len(result.stderr.splitlines()) == 1
        assert not (tmp_path / "x").exists()
        result = run_webmon("record", "-o", str(tmp_path / "x"), "--duration", "1")
        assert result.returncode == 1 and "say which one to record" in result.stderr


def test_record_by_name_and_pid(tmp_path: Path) -> None:
    with recording_producer("rec-b"), recording_producer("rec-b") as second:
        result = run_webmon("record", "--producer", f"rec-b@{second.pid}", "-o",
                            str(tmp_path / "x"), "--duration", "1", "--quiet")
        assert result.returncode == 0, result.stderr
    assert load(tmp_path / "x").producer["pid"] == second.pid


@pytest.mark.parametrize("duration", ["0", "-1", "soon", "inf"])
def test_record_refuses_a_bad_duration(duration: str) -> None:
    result = run_webmon("record", "--duration", duration)
    assert result.returncode == 2 and "--duration" in result.stderr


def test_record_without_producer(tmp_path: Path) -> None:
    result = run_webmon("record", "-o", str(tmp_path / "x"))
    assert result.returncode == 1
    assert result.stderr == "webmon record: no producer is live\n"
    assert not (tmp_path / "x").exists()
    assert os.listdir(tmp_path) == []


def test_a_hot_stream_is_judged_by_its_rate_not_by_one_short_read() -> None:
    # A read 10 ms after the last took 15% of a ring: at that rate a 50 ms period would
    # take 75%, so the next read comes soon too (judged on the read alone it would not).
    assert next_interval(0.15, 0.01, 0.05) == HOT_POLL_S
    assert next_interval(0.10, 0.05, 0.05) == 0.05
    assert next_interval(0.30, None, 0.05) == HOT_POLL_S  # the first read
    assert next_interval(0.0, 0.01, 0.05) == 0.05
