"""One self-contained HTML page from a recording: ``webmon report PATH -o report.html``.

BokehJS and the tile viewer's bundle are inlined (``bokeh.resources.INLINE``), and so is
every value drawn: the page makes no network request, opens from a file on a machine with
no network, and can be attached to an issue.  Dask's ``performance_report`` loads BokehJS
from a CDN and shows nothing offline (dask/distributed#4999); this does not.

Every string that came from the producer (its name, application, layer names, problems)
is escaped before it reaches the page.
"""

from __future__ import annotations

import os
import tempfile
import time
from html import escape
from pathlib import Path
from typing import Any

from bokeh.embed import file_html
from bokeh.layouts import column
from bokeh.models import Div, LayoutDOM
from bokeh.resources import INLINE

from webmon.recording import Recording, RecordingError
from webmon.version import __version__

from .decimate import DEFAULT_BUDGET
from .figures import ReportData
from .loader import loader_section
from .stalls import stalls_section
from .tiles import tiles_section

_STYLE = """
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
         margin: 1em 2em; }
  table.webmon-summary { border-collapse: collapse; margin: 0.5em 0 1em; }
  table.webmon-summary th { text-align: left; padding: 0.15em 1.2em 0.15em 0; color: #555;
                            font-weight: normal; }
  table.webmon-summary td { padding: 0.15em 1em 0.15em 0; }
  .webmon-problem { color: #b71c1c; }
</style>
"""


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _ms(summary: dict[str, Any], name: str) -> str:
    if f"{name}_median_ms" not in summary:
        return ""
    return (f" · median {summary[f'{name}_median_ms']:.1f} ms, p95 "
            f"{summary[f'{name}_p95_ms']:.1f} ms, slowest {summary[f'{name}_max_ms']:.1f} ms")


def summary_section(data: ReportData) -> LayoutDOM:
    s = data.summary()
    lost = f"{s['lost']:,}"
    if s["lost_by_stream"]:
        lost += " (" + ", ".join(f"{escape(k)}: {v:,}" for k, v in s["lost_by_stream"].items()) \
            + ")"
    ended = escape(s["status"]) + (f": {escape(s['reason'])}" if s["reason"] else "")
    rows = [
        ("producer", f"{escape(s['producer'])} · {escape(s['app'])}"),
        ("recorded", f"{_when(s['started'])} to {_when(s['ended'])} "
                     f"({s['duration']:.1f} s) · {ended}"),
        ("frames", f"{s['frames']:,}{_ms(s, 'frame')}"),
        ("loads", f"{s['loads']:,} ({s['sync_loads']:,} synchronous) · "
                  f"{s['megabytes']:,.1f} MB{_ms(s, 'load')}"),
        ("stalls", f"{s['stalls']:,} frames over {s['stall_ms']:.1f} ms (twice the median)"
                   + (f" · worst {s['worst_stall_ms']:.0f} ms" if s["stalls"] else "")),
        ("records lost", lost),
        ("records", ", ".join(f"{escape(k)}: {v:,}" for k, v in s["records"].items()) or "–"),
    ]
    table = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    problems = "".join(f"<li class='webmon-problem'>{escape(p)}</li>" for p in s["problems"])
    html = (f"<h1>webmon report: {escape(s['producer'])}</h1>"
            f"<table class='webmon-summary'>{table}</table>"
            + (f"<b>Problems reading the recording</b><ul>{problems}</ul>" if problems else ""))
    return Div(text=html, name="report-summary", sizing_mode="stretch_width")


def build_report(recording: Recording, budget: int = DEFAULT_BUDGET) -> LayoutDOM:
    """The report's layout: summary, loader, worst stalls, tiles."""
    data = ReportData.of(recording)
    footer = Div(text=(f"<p style='color:#777'>Made by webmon {__version__} on "
                       f"{_when(time.time())} from {escape(str(recording.path))}.</p>"))
    return column(summary_section(data), loader_section(data, budget), stalls_section(data),
                  tiles_section(data), footer, sizing_mode="stretch_width")


def write_report(recording: Recording, output: str | os.PathLike[str],
                 budget: int = DEFAULT_BUDGET) -> int:
    """Write the report of ``recording`` to ``output`` (through a temporary file and a
    rename); returns its size in bytes.  RecordingError names what could not be written."""
    output = Path(output)
    title = f"webmon report: {recording.producer.get('name')} {_when(recording.started)}"
    html = file_html(build_report(recording, budget), resources=INLINE, title=title,
                     template="{% block preamble %}" + _STYLE + "{% endblock %}")
    data = html.encode("utf-8")
    directory = output.parent if str(output.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + output.name, suffix=".tmp", dir=directory)
    except OSError as exc:
        raise RecordingError(f"cannot write {output}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # a report is meant to be shared
        os.replace(tmp, output)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise RecordingError(f"cannot write {output}: {exc.strerror}") from None
    return len(data)
