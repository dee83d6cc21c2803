"""The Dask example of docs/recording.md, run as written on a folder of three small
recordings: the code between its ``dask-example`` markers is what runs here."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from webmon.recording import record
from webmon.schema import CHUNK_DTYPE, CHUNK_LOADS
from webmon.shm import Publisher

DOC = Path(__file__).resolve().parent.parent / "docs" / "recording.md"


def dask_example() -> str:
    text = DOC.read_text("utf-8")
    match = re.search(r"<!-- dask-example -->\s*```python\n(.*?)```\s*<!-- /dask-example -->",
                      text, re.DOTALL)
    assert match is not None, "docs/recording.md lost its Dask example"
    return match.group(1)


def test_the_dask_example_reads_a_folder_of_recordings(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "recordings"
    counts = {}
    for i, name in enumerate(("monday", "tuesday", "wednesday")):
        loads = np.zeros(100 * (i + 1), CHUNK_DTYPE)
        loads["time"] = time.time()
        loads["layer"] = 1
        loads["level"] = np.arange(len(loads)) % 3
        loads["load_ms"] = 10.0 * (i + 1)
        with Publisher(f"dask-{name}") as pub:
            stream = pub.stream(CHUNK_LOADS, CHUNK_DTYPE)
            with record(folder / name):
                stream.extend(loads)
        counts[name] = len(loads)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(dask_example(), str(DOC), "exec"), scope)
    everything, per_recording = scope["loads"], scope["per_recording"]
    assert len(everything) == sum(counts.values())
    assert per_recording.loc["monday", "count"] == 100
    assert per_recording.loc["wednesday", "count"] == 300
    assert per_recording.loc["tuesday", "mean"] == pytest.approx(20.0)
    assert set(per_recording.index) == set(counts)
