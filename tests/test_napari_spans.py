"""The napari adapter's spans, in a ViewerModel process per napari: draws, slices and chunk
reads on their threads, and napari's perfmon events forwarded with ``NAPARI_PERFMON=1``.

Runs with this interpreter's napari and with each interpreter listed in
``WEBMON_NAPARI_PYTHONS`` (os.pathsep-separated; CI sets one with napari 0.5.6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import TESTS, child_env

pytest.importorskip("napari")

SCRIPT = TESTS / "napari_spans_script.py"


def interpreters() -> list[str]:
    extra = [p for p in os.environ.get("WEBMON_NAPARI_PYTHONS", "").split(os.pathsep) if p]
    return [sys.executable, *extra]


def run(python: str, name: str, perfmon: str | None) -> dict:
    env = child_env()
    env.pop("NAPARI_PERFMON", None)
    if perfmon is not None:
        env["NAPARI_PERFMON"] = perfmon
    done = subprocess.run([python, str(SCRIPT), name], capture_output=True, text=True,
                          env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("python", interpreters())
def test_draws_slices_reads_and_perfmon_events_become_spans(python: str) -> None:
    out = run(python, "napari-spans", "1")
    assert out["perfmon"] is True
    spans = out["spans"]
    by_name: dict[str, list] = {}
    for span in spans:
        by_name.setdefault(span[0], []).append(span)
    draws = by_name["draw"]
    assert len(draws) == 3 and {s[1] for s in draws} == {"draw"}
    assert {s[2] for s in draws} == {"drawing thread"}
    assert by_name["slice"] and {s[1] for s in by_name["slice"]} == {"slice"}
    reads = by_name["read chunk"]
    assert reads and {s[1] for s in reads} == {"chunk load"}
    assert all({"layer", "level", "row", "col"} <= set(s[4]) for s in reads)
    assert {s[2] for s in reads} == {"drawing thread"}  # napari slices synchronously here
    assert all(s[5] >= 0 for s in reads)
    # perfmon: the timer blocks as spans with their arguments, the instants as instants
    blocks = by_name["webmon perf block"]
    assert [s[4]["step"] for s in blocks] == [0.0, 1.0, 2.0]
    assert {s[1] for s in blocks} == {"webmon-test"} and all(s[3] == 0 for s in blocks)
    assert all(s[5] >= 0.002 for s in blocks)
    assert {s[2] for s in blocks} == {"drawing thread"}
    marks = by_name["webmon mark"]
    assert len(marks) == 3 and all(s[3] == 1 and s[5] == 0 for s in marks)


def test_without_perfmon_nothing_is_forwarded_and_the_rest_still_records() -> None:
    out = run(sys.executable, "napari-spans-plain", None)
    assert out["perfmon"] is False
    names = {span[0] for span in out["spans"]}
    assert {"draw", "slice", "read chunk"} <= names
    assert not names & {"webmon perf block", "webmon mark"}
