"""Bad input for recordings: not a recording, damaged or foreign files, a manifest from a
newer schema, a full disk, an unwritable path.  Each gets a clear one-line error, and what
was recorded is kept (and still read)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import child_env
from producers.recording import SEQ_DTYPE, seq_records
from recording_helpers import check_seq_exact, recording_producer, run_webmon

from webmon import Publisher
from webmon.recording import RecordingError, load, record
from webmon.recording.layout import MAX_MANIFEST_BYTES, SCHEMA_VERSION


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small recording made in this process (about 2.5 s: three parts or more), to damage
    in copies."""
    out = tmp_path_factory.mktemp("recorded") / "rec"
    runtime = tmp_path_factory.mktemp("recorded-run")
    runtime.chmod(0o700)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEBMON_RUNTIME_DIR", str(runtime))
        with Publisher("rec-bad") as pub:
            stream = pub.stream("seq", SEQ_DTYPE)
            image = np.zeros((4, 6), dtype=np.uint16)
            with record(out):
                for i in range(25):
                    stream.extend(seq_records(i * 100, 100))
                    pub.set_state("counter", {"n": i})
                    if i % 10 == 0:
                        image += 1
                        pub.share_array("image", image)
                    time.sleep(0.1)
    return out


@pytest.fixture
def copy(recorded: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(recorded, target)
    return target


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def _write_manifest(path: Path, manifest: object) -> None:
    (path / "manifest.json").write_text(json.dumps(manifest))


def _one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


# -- not a recording -----------------------------------------------------------------------
def test_not_a_recording(tmp_path: Path) -> None:
    with pytest.raises(RecordingError) as excinfo:
        load(tmp_path)
    assert _one_line_error(excinfo) == f"{tmp_path} is not a webmon recording (no manifest.json)"
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(RecordingError, match="is not a webmon recording"):
        load(tmp_path / "notes.txt")
    with pytest.raises(RecordingError, match="does not exist"):
        load(tmp_path / "nothing")


@pytest.mark.parametrize("content, message", [
    (b"{\"format\": \"webmon-recording\", \"schema", "is not valid JSON"),
    (b"[1, 2, 3]", "is not a webmon recording manifest"),
    (b"{\"format\": \"parquet\"}", "is not a webmon recording manifest"),
    (b"[" * 100_000, "is not valid JSON"),
])
def test_malformed_manifest(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "manifest.json").write_bytes(content)
    with pytest.raises(RecordingError, match=message) as excinfo:
        load(tmp_path)
    _one_line_error(excinfo)


def test_oversized_manifest(tmp_path: Path) -> None:
    with open(tmp_path / "manifest.json", "wb") as f:
        f.truncate(MAX_MANIFEST_BYTES + 1)
    with pytest.raises(RecordingError, match="far larger than any manifest"):
        load(tmp_path)


def test_manifest_from_a_newer_schema(copy: Path) -> None:
    manifest = _manifest(copy)
    manifest["schema_version"] = SCHEMA_VERSION + 1
    _write_manifest(copy, manifest)
    with pytest.raises(RecordingError) as excinfo:
        load(copy)
    assert _one_line_error(excinfo) == (
        f"{copy / 'manifest.json'} was written by a newer webmon (recording schema "
        f"{SCHEMA_VERSION + 1}; this webmon reads up to {SCHEMA_VERSION}): upgrade webmon to "
        "read it")


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(schema_version="1"), "no valid schema_version"),
    (lambda m: m.update(streams=[]), "'streams' is missing or of the wrong type"),
    (lambda m: m.update(status="exploded"), "unknown status"),
    (lambda m: m["streams"]["seq"].update(dir="../../etc"), "has no valid 'dir'"),
    (lambda m: m["streams"]["seq"].update(dir="/etc"), "has no valid 'dir'"),
    (lambda m: m["state"]["counter"].update(file=7), "has no valid 'file'"),
    (lambda m: m["streams"]["seq"].update(dtype={"names": ["a"], "formats": ["O"],
                                                "offsets": [0], "itemsize": 8}),
     "stream 'seq'"),
    (lambda m: m["streams"]["seq"].pop("dtype"), "has no dtype"),
])
def test_manifest_with_wrong_fields(copy: Path, change: object, message: str) -> None:
    manifest = _manifest(copy)
    change(manifest)
    _write_manifest(copy, manifest)
    with pytest.raises(RecordingError, match=message) as excinfo:
        load(copy)
    _one_line_error(excinfo)


# -- damaged files: skipped, said, the rest read ---------------------------------------------
def test_truncated_part_is_skipped(copy: Path) -> None:
    parts = sorted(copy.glob("streams/seq/part-*.parquet"))
    assert len(parts) >= 3
    whole = load(copy).streams["seq"]
    damaged = parts[1]
    rows = pd.read_parquet(damaged).shape[0]
    with open(damaged, "r+b") as f:
        f.truncate(damaged.stat().st_size // 2)
    rec = load(copy)
    frame = rec.streams["seq"]
    assert len(frame) == len(whole) - rows
    assert [p for p in rec.problems if "part-00000001.parquet is truncated or damaged" in p]
    assert all("\n" not in p for p in rec.problems)
    # The parts around it are intact; what is missing is exactly that part's records.
    missing = set(whole["seq"]) - set(frame["seq"])
    assert len(missing) == rows


def test_foreign_and_mismatched_parts_are_skipped(copy: Path) -> None:
    directory = copy / "streams" / "seq"
    pd.DataFrame({"x": [1, 2]}).to_parquet(directory / "part-99999998.parquet")
    manifest = _manifest(copy)
    # A part of another stream's dtype, moved here by hand.
    other = copy / "streams" / "other"
    other.mkdir()
    with Publisher("rec-other") as pub:
        stream = pub.stream("other", np.dtype([("y", "<f4")]))
        with record(copy.parent / "other") as _:
            stream.append((1.5,))
    shutil.copy(next((copy.parent / "other" / "streams" / "other").glob("part-*")),
                directory / "part-99999999.parquet")
    _write_manifest(copy, manifest)
    rec = load(copy)
    frame = rec.streams["seq"]
    assert list(frame.columns) == ["time", "seq", "triple", "tag", "pair"]
    assert any("part-99999998.parquet is not a part webmon wrote" in p for p in rec.problems)
    assert any("part-99999999.parquet holds records of dtype" in p for p in rec.problems)


def test_unfinished_and_malformed_state_lines(copy: Path) -> None:
    path = copy / _manifest(copy)["state"]["counter"]["file"]
    whole = len(load(copy).states["counter"])
    with open(path, "ab") as f:
        f.write(b'{"time": 1, "version": 3}\n')  # no value: still a change, value None
        f.write(b"not json\n[1, 2]\n{\"time\": \"noon\", \"version\": 1}\n")
        f.write(b'{"time": 17000, "version": 99, "val')  # cut short by a kill
    rec = load(copy)
    assert len(rec.states["counter"]) == whole + 1
    assert any("ends with an unfinished line" in p for p in rec.problems)
    assert any("3 malformed line(s) skipped" in p for p in rec.problems)


def test_damaged_array_snapshot(copy: Path) -> None:
    directory = copy / _manifest(copy)["arrays"]["image"]["dir"]
    first = sorted(directory.glob("*.npy"))[0]
    np.save(first, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    rec = load(copy)
    with pytest.raises(RecordingError, match="cannot be read") as excinfo:
        rec.arrays["image"][0]
    _one_line_error(excinfo)
    assert rec.arrays["image"][1].shape == (4, 6)


def test_missing_stream_directory_reads_as_empty(copy: Path) -> None:
    shutil.rmtree(copy / "streams" / "seq")
    frame = load(copy).streams["seq"]
    assert len(frame) == 0 and list(frame.columns) == ["time", "seq", "triple", "tag", "pair"]


# -- writing: unwritable paths, a full disk ----------------------------------------------------
@pytest.mark.parametrize("where", ["file", "under-a-file", "not-empty", "sys"])
def test_unwritable_output(tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    target = {"file": tmp_path / "file", "under-a-file": tmp_path / "file" / "rec",
              "not-empty": tmp_path / "full", "sys": Path("/sys/webmon-recording")}[where]
    with recording_producer("rec-unwritable"):
        result = run_webmon("record", "-o", str(target), "--duration", "1")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("webmon record: "), result.stderr
    assert str(target) in lines[0]
    assert (tmp_path / "file").read_text() == "x"
    assert os.listdir(tmp_path / "full") == ["keep.txt"]


def _user_namespaces() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return probe.returncode == 0


_CHECK = textwrap.dedent("""
    import json, sys
    from webmon.recording import load
    rec = load(sys.argv[1])
    entry = rec.manifest["streams"].get("seq", {})
    frame = rec.streams["seq"] if "seq" in rec.streams else None
    print(json.dumps({"status": rec.status, "reason": rec.manifest["reason"],
                      "problems": rec.problems, "rows": 0 if frame is None else len(frame),
                      "seq": [] if frame is None else frame["seq"].tolist(),
                      "first": entry.get("first_index"), "records": entry.get("records")}))
""")


@pytest.mark.skipif(not _user_namespaces(), reason="needs unshare -rm (user namespaces) to "
                    "mount a small tmpfs without privileges")
def test_full_disk(tmp_path: Path) -> None:
    """The recorder fills a 1 MiB file system: it stops with one line, and the recording
    holds every part closed before, and a manifest saying why it ended."""
    mount = tmp_path / "small"
    mount.mkdir()
    rec = mount / "rec"
    script = (f"mount -t tmpfs -o size=1m tmpfs {mount} && "
              f"{sys.executable} -m webmon.cli record -o {rec} --quiet; "
              f"echo \"exit=$?\" >&2; {sys.executable} -c '{_CHECK}' {rec}")
    with recording_producer("rec-full", "--rate", "20000", "--batch", "200"):
        result = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True,
                                text=True, env=child_env(), timeout=120)
    errors = [line for line in result.stderr.splitlines() if line.startswith("webmon")]
    assert "exit=1" in result.stderr, result.stderr
    assert len(errors) == 1, result.stderr
    assert "the disk is full" in errors[0] and "kept what was recorded before" in errors[0]
    found = json.loads(result.stdout)
    assert found["status"] == "failed" and "the disk is full" in found["reason"]
    assert found["rows"] > 0 and found["rows"] == found["records"]
    assert found["seq"] == list(range(found["first"], found["first"] + found["rows"]))
    assert any("ended early" in p and "disk is full" in p for p in found["problems"])


def test_file_size_limit(tmp_path: Path) -> None:
    """A write refused for another reason (a file-size limit: EFBIG) ends the recording the
    same way, with what was written before kept."""
    out = tmp_path / "rec"

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))

    with recording_producer("rec-limit", "--rate", "2000", "--batch", "20",
                            "--state-bytes", "2000"):
        proc = subprocess.run([sys.executable, "-m", "webmon.cli", "record", "-o", str(out),
                               "--quiet", "--duration", "60"], capture_output=True, text=True,
                              env=child_env(), timeout=120, preexec_fn=limit)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "File too large" in lines[0], proc.stderr
    assert "kept what was recorded before" in lines[0]
    rec = load(out)
    assert rec.status == "failed" and "File too large" in rec.manifest["reason"]
    assert any("ended early" in p for p in rec.problems)
    entry = rec.manifest["streams"]["seq"]
    frame = rec.streams["seq"]
    assert len(frame) > 0
    check_seq_exact(frame["seq"], entry["first_index"],
                    entry["first_index"] + len(frame), 0)
