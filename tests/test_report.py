"""``webmon report``: the demo recorded for 10 s and read back with pandas, its report's
sections and numbers, decimation that never drops the slowest loads or frames, the size of
a ten-minute report, and bad input."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bokeh.document import Document
from helpers import wait_until
from recording_helpers import run_webmon
from recordings import record_demo, write_long_recording

from webmon.recording import load
from webmon.report import build_report, write_report
from webmon.report.decimate import keep_slowest
from webmon.report.figures import ReportData
from webmon.schema import CHUNK_LOADS, FRAME_TIMES


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo, recorded for 10 s by ``webmon record``."""
    out = tmp_path_factory.mktemp("demo") / "demo-10s"
    runtime = tmp_path_factory.mktemp("demo-run")
    runtime.chmod(0o700)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEBMON_RUNTIME_DIR", str(runtime))
        record_demo(out, 10)
    return out


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray,
                                                                       np.ndarray]:
    out = tmp_path_factory.mktemp("long") / "ten-minutes"
    frames, loads = write_long_recording(out)
    return out, frames, loads


def test_the_demo_recorded_for_10_s_reads_back_with_pandas(demo: Path) -> None:
    manifest = json.loads((demo / "manifest.json").read_text())
    assert manifest["status"] == "complete" and 9.5 < manifest["ended"] - manifest["started"]
    for stream in (CHUNK_LOADS, FRAME_TIMES):
        entry = manifest["streams"][stream]
        frame = pd.read_parquet(demo / entry["dir"])
        written = entry["end_index"] - entry["first_index"]
        assert len(frame) == written - entry["lost"] > 0
    frames = pd.read_parquet(demo / manifest["streams"][FRAME_TIMES]["dir"])
    assert frames["time"].is_monotonic_increasing and (frames["delta_ms"] > 0).all()
    states = {key: pd.read_json(demo / entry["file"], lines=True)
              for key, entry in manifest["state"].items()}
    assert {"layers", "camera", "loader", "tiles"} <= set(states)  # tiles: the recorder wants it
    assert (np.diff(states["loader"]["version"]) > 0).all()


def test_report_of_the_demo(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run_webmon("report", str(demo), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {out} (")
    html = out.read_text()
    assert "cdn.bokeh.org" not in html and not re.search(r"<script[^>]+src=", html)
    assert "webmon.tiles_extension.tile_viewer" in html  # the tile bundle, inlined
    rec = load(demo)
    data = ReportData.of(rec)
    summary = data.summary()
    assert summary["frames"] == len(rec.streams[FRAME_TIMES])
    assert summary["loads"] == len(rec.streams[CHUNK_LOADS])
    assert summary["lost"] == rec.lost()
    assert f"{summary['frames']:,}" in html and "recdemo@" in html
    assert out.stat().st_size < 10e6


def _model_data(layout, name: str) -> dict:
    doc = Document()
    doc.add_root(layout)
    model = doc.get_model_by_name(name)
    assert model is not None, name
    return model.data


def test_ten_minutes_fit_in_10_MB_and_keep_the_slowest(long_recording, tmp_path: Path) -> None:
    path, frames, loads = long_recording
    rec = load(path)
    size = write_report(rec, tmp_path / "report.html")
    assert size <= 10_000_000
    layout = build_report(rec)
    drawn_frames = _model_data(layout, "report-frames")
    assert len(drawn_frames["time"]) <= 20_000 < len(frames)
    assert max(drawn_frames["delta_ms"]) == pytest.approx(frames["delta_ms"].max())
    slowest_frames = np.sort(frames["delta_ms"])[-40:]  # every stall
    assert np.isin(slowest_frames.astype(np.float64), drawn_frames["delta_ms"]).all()
    drawn = np.concatenate([_model_data(build_report(rec), f"report-loads-{mode}")["load_ms"]
                            for mode in ("async", "sync")])
    assert len(drawn) <= 40_000 < len(loads)
    slowest = np.sort(loads["load_ms"].astype(np.float64))[-1000:]
    assert np.isin(slowest, drawn).all()


def test_decimation() -> None:
    rng = np.random.default_rng(1)
    times = rng.uniform(0, 100, 50_000)
    values = rng.gamma(2, 2, 50_000)
    keep = keep_slowest(times, values, 2_000)
    assert len(keep) == 2_000 and np.all(np.diff(keep) > 0)
    assert set(np.argsort(values)[-200:]) <= set(keep)  # the slowest tenth of the budget
    # The slowest of every slice of time (a hundredth of the span here; the decimation's own
    # slices are finer): the envelope has no gap.
    kept = set(keep.tolist())
    edges = np.linspace(times.min(), times.max(), 101)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = np.flatnonzero((times >= lo) & (times < hi))
        assert inside[np.argmax(values[inside])] in kept
    small = keep_slowest(times[:10], values[:10], 2_000)
    assert list(small) == list(range(10))
    nan = values.copy()
    nan[::7] = np.nan
    assert len(keep_slowest(times, nan, 2_000)) == 2_000


def test_report_of_a_recording_without_the_schema(tmp_path: Path) -> None:
    """Any producer's recording makes a report: the sections say what is missing."""
    from webmon import Publisher
    from webmon.recording import record

    with Publisher("plain") as pub:
        stream = pub.stream("events", np.dtype([("x", "<f8")]))
        with record(tmp_path / "rec"):
            stream.extend(np.arange(5, dtype=np.float64).view(stream.dtype))
    size = write_report(load(tmp_path / "rec"), tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert size > 0 and "no frames were recorded" in html and "no loads were recorded" in html
    assert "No loads were recorded" in html and "No frames were recorded" in html


def test_report_escapes_producer_strings(tmp_path: Path) -> None:
    from webmon import Publisher
    from webmon.recording import record
    from webmon.schema import LAYERS

    evil = '<img src=x onerror="window.__xss=1">'
    with Publisher("escaped", app=evil) as pub:
        with record(tmp_path / "rec"):
            pub.set_state(LAYERS, [{"id": 1, "name": evil}])
    write_report(load(tmp_path / "rec"), tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert evil not in html
    # Escaped by the report (Div text is HTML), then again as Bokeh embeds its JSON.
    assert "&amp;lt;img src=x" in html


@pytest.mark.parametrize("where", ["missing-dir", "sys"])
def test_report_to_an_unwritable_path(long_recording, tmp_path: Path, where: str) -> None:
    path = long_recording[0]
    target = {"missing-dir": tmp_path / "nowhere" / "r.html",
              "sys": Path("/sys/webmon-report.html")}[where]
    result = run_webmon("report", str(path), "-o", str(target))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"webmon report: cannot write {target}")


def test_report_of_what_is_not_a_recording(tmp_path: Path) -> None:
    result = run_webmon("report", str(tmp_path), "-o", str(tmp_path / "r.html"))
    assert result.returncode == 1
    assert result.stderr == (f"webmon report: {tmp_path} is not a webmon recording (no "
                             "manifest.json)\n")
    assert not (tmp_path / "r.html").exists()


def test_report_notes_a_truncated_part(long_recording, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(long_recording[0], copy)
    part = sorted((copy / "streams" / CHUNK_LOADS).glob("part-*.parquet"))[3]
    with open(part, "r+b") as f:
        f.truncate(100)
    result = run_webmon("report", str(copy), "-o", str(tmp_path / "r.html"))
    assert result.returncode == 0, result.stderr
    assert "webmon report: note: streams/chunk_loads/part-00000003.parquet is truncated" \
        in result.stderr
    assert "part-00000003.parquet is truncated" in (tmp_path / "r.html").read_text()


def test_trace_of_the_demo(demo: Path, tmp_path: Path) -> None:
    """``--trace``: the recording's spans as Chrome trace events, every field as the format
    says, spans of one thread nested or apart; and the stall timelines draw them."""
    from webmon.schema import SPANS

    trace_path = tmp_path / "trace.json"
    result = run_webmon("report", str(demo), "-o", str(tmp_path / "r.html"), "--trace",
                        str(trace_path))
    assert result.returncode == 0, result.stderr
    assert f"wrote {trace_path} (" in result.stdout
    rec = load(demo)
    trace = json.loads(trace_path.read_text())
    assert trace["displayTimeUnit"] == "ms" and trace["otherData"]["producer"] == "recdemo"
    events = trace["traceEvents"]
    spans = [e for e in events if e["ph"] in ("X", "i")]
    assert len(spans) == len(rec.streams[SPANS]) > 0
    pid = rec.producer["pid"]
    for event in spans:
        assert isinstance(event["name"], str) and isinstance(event["cat"], str)
        assert event["pid"] == pid and isinstance(event["tid"], int)
        assert isinstance(event["ts"], int) and isinstance(event["args"], dict)
        if event["ph"] == "X":
            assert isinstance(event["dur"], int) and event["dur"] >= 0
    names = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert "drawing thread" in names and any(n.startswith("loader") for n in names)
    by_thread: dict[int, list[tuple[int, int]]] = {}
    for event in spans:
        if event["ph"] == "X":
            by_thread.setdefault(event["tid"], []).append((event["ts"],
                                                          event["ts"] + event["dur"]))
    for intervals in by_thread.values():
        stack: list[int] = []
        for start, end in sorted(intervals, key=lambda se: (se[0], -se[1])):
            while stack and stack[-1] <= start:
                stack.pop()
            assert not stack or end <= stack[-1], "spans of one thread overlap unnested"
            stack.append(end)


def test_stall_timelines_draw_the_spans(tmp_path: Path) -> None:
    """A recording with spans and one frame far slower than the rest: the report's timeline
    around that stall draws every span (the demo may well have no stall on a quiet machine,
    so this one is made to have one)."""
    from webmon import Publisher
    from webmon.recording import record
    from webmon.schema import FRAME_DTYPE

    with Publisher("stalled") as pub:
        frames = pub.stream(FRAME_TIMES, FRAME_DTYPE)
        spans = pub.spans  # the spans stream, before the recording looks for streams
        with record(tmp_path / "rec"):
            wait_until(lambda: spans.active, timeout=10, message="spans wanted")
            last = time.time()
            for i in range(40):
                with pub.span("draw", category="frame", index=i):
                    time.sleep(0.12 if i == 30 else 0.005)  # frame 30 stalls
                now = time.time()
                frames.append((now, (now - last) * 1000.0))
                last = now
    result = run_webmon("report", str(tmp_path / "rec"), "-o", str(tmp_path / "r.html"))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "r.html").read_text()
    assert "every span of every thread" in html and "No frame took more than" not in html


def test_trace_without_spans(tmp_path: Path) -> None:
    from webmon.recording import record
    from webmon.shm import Publisher

    with Publisher("spanless") as pub:
        stream = pub.stream("events", np.dtype([("x", "<f8")]))
        with record(tmp_path / "rec"):
            stream.append((1.0,))
    result = run_webmon("report", str(tmp_path / "rec"), "-o", str(tmp_path / "r.html"),
                        "--trace", str(tmp_path / "t.json"))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "holds no spans" in lines[0] and "t.json was not written" \
        in lines[0]
    assert (tmp_path / "r.html").exists() and not (tmp_path / "t.json").exists()
