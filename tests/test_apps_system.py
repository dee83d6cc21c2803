"""The system tab: its columns, its reading of the producer's state (hostile input), and its
components against a hub following real producer processes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from bokeh.document import Document
from helpers import producer, wait_until

from webmon.apps import system
from webmon.apps.system.charts import MB, system_columns
from webmon.apps.system.gc import generation_rows
from webmon.apps.system.parse import parse_system
from webmon.schema import GC_DTYPE, SYSTEM_DTYPE
from webmon.server import Hub, Session

EVIL = "<img src=x onerror=alert(1)>"


def samples(rows: list[tuple[float, int, int]]) -> np.ndarray:
    """(time, read_bytes, uss) -> SYSTEM_DTYPE records."""
    out = np.zeros(len(rows), SYSTEM_DTYPE)
    out["time"] = [r[0] for r in rows]
    out["read_bytes"] = [r[1] for r in rows]
    out["uss"] = [r[2] for r in rows]
    out["write_bytes"] = -1  # the platform lacks it
    return out


def test_counters_become_rates_and_missing_figures_become_gaps() -> None:
    first = samples([(10.0, 0, 5 * MB), (11.0, MB, -1), (13.0, 5 * MB, 5 * MB)])
    columns = system_columns(first, None)
    assert np.isnan(columns["read"][0])
    assert columns["read"][1:].tolist() == [1.0, 2.0]  # MB/s
    assert np.isnan(columns["uss"][1]) and columns["uss"][2] == 5.0
    assert np.isnan(columns["write"]).all()
    # The next batch continues from the last record of the previous one.
    more = system_columns(samples([(14.0, 8 * MB, 0)]), first[-1:])
    assert more["read"].tolist() == [3.0]
    # A counter going backwards (another process with the same name) is no rate.
    back = system_columns(samples([(15.0, 0, 0)]), first[-1:])
    assert np.isnan(back["read"][0])


def test_gc_rows_per_generation() -> None:
    pauses = np.zeros(3, GC_DTYPE)
    pauses["generation"] = [0, 2, 0]
    pauses["duration_ms"] = [1.0, 30.0, 3.0]
    pauses["collected"] = [5, 300_000, 1]
    rows = generation_rows(pauses)
    assert rows["count"] == [2, 0, 1]
    assert rows["total_ms"] == [4.0, 0.0, 30.0] and rows["max_ms"] == [3.0, 0.0, 30.0]
    assert rows["collected"] == [6, 0, 300_000]


@pytest.mark.parametrize("value, message", [
    ("x", "not an object"),
    ({"pid": "1", "cpu_count": 2, "period_s": 1, "platform": "linux"}, "pid"),
    ({"pid": 1, "cpu_count": 0, "period_s": 1, "platform": "linux"}, "cpu_count"),
    ({"pid": 1, "cpu_count": 2, "period_s": -1, "platform": "linux"}, "period_s"),
    ({"pid": 1, "cpu_count": 2, "period_s": True, "platform": "linux"}, "period_s"),
    ({"pid": 1, "cpu_count": 2, "period_s": 1, "platform": 3}, "platform"),
    ({"pid": 1, "cpu_count": 2, "period_s": 1, "platform": "l", "threads": {}}, "threads"),
    ({"pid": 1, "cpu_count": 2, "period_s": 1, "platform": "l", "threads": [[1]]}, "threads"),
    ({"pid": 1, "cpu_count": 2, "period_s": 1, "platform": "l",
      "threads": [["1", "main"]]}, "threads"),
])
def test_malformed_system_state_is_refused(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_system(value)


def test_system_state_keeps_names_as_text_cut_short() -> None:
    info = parse_system({"pid": 1, "cpu_count": 2, "period_s": 1.0, "platform": "linux",
                         "uss": "yes", "threads": [[7, EVIL * 100]]})
    assert info.uss is False and info.threads[7].startswith(EVIL)
    assert len(info.threads[7]) == 200


# -- against a hub following real producers -------------------------------------------------
@pytest.fixture
def hub() -> Iterator[Hub]:
    hub = Hub(interval=0.05, discover_interval=0.0)
    yield hub
    hub.stop()


class Page:
    def __init__(self, hub: Hub, producer: str) -> None:
        self.hub = hub
        self.doc = Document()
        self.session = Session(hub, self.doc, producer)
        self.doc.add_root(system.build(self.session))

    def model(self, name: str) -> Any:
        return self.doc.get_model_by_name(name)

    def until(self, predicate: Any, message: str, timeout: float = 20.0) -> Any:
        def check() -> Any:
            self.hub.tick()
            self.session.update()
            return predicate()

        return wait_until(check, timeout=timeout, interval=0.05, message=message)


def run_producer(name: str, *args: str):
    return producer("instrumented", name, *args)


def test_the_tab_shows_the_producer_its_threads_and_the_dashboard(hub: Hub) -> None:
    with run_producer("sys-tab"):
        page = Page(hub, "sys-tab")
        page.until(lambda: len(page.model("system-samples").data["time"]) >= 2,
                   "two samples")
        page.until(lambda: "hot-worker" in page.model("system-threads").data["name"],
                   "the threads' table")
        table = page.model("system-threads").data
        hot = table["name"].index("hot-worker")
        assert table["mean"][hot] > 0
        assert "hot-worker" in page.model("system-thread-lines").data["name"]
        data = page.model("system-samples").data
        assert data["rss"][-1] > 1 and data["cpu"][-1] > 0 and data["threads"][-1] >= 3
        assert "Producer pid" in page.model("system-message").text
        page.until(lambda: len(page.model("system-dashboard").data["time"]) >= 1,
                   "the dashboard's own figures")
        assert "Dashboard" in page.model("system-dashboard-text").text


@pytest.mark.parametrize("kind, expected", [
    ("stacks", "not an object"),
    ("types", "pid"),
    ("html", None),
])
def test_malformed_system_data_is_shown_as_a_problem_not_a_crash(
        hub: Hub, caplog: pytest.LogCaptureFixture, kind: str, expected: str | None) -> None:
    name = f"bad-sys-{kind}"
    with run_producer(name, "--malformed", kind):
        page = Page(hub, name)
        message = page.model("system-message")
        if expected is not None:
            # The malformed producer's system_samples stream has a dtype of its own, too.
            page.until(lambda: "records have dtype" in message.text, "the records refused")
            page.until(lambda: expected in message.text, "the state refused")
            assert len(page.model("system-samples").data["time"]) == 0
        else:
            page.until(lambda: EVIL in page.model("system-threads").data["name"],
                       "the thread's name, as text, in the table")
            assert EVIL not in message.text and "&lt;img" in message.text
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == []
