"""The report's worst stalls: a table of the slowest frames and what loaded during each, then
a timeline of the two seconds around each of the worst, the stall shaded and frames as
ticks: a row per thread with every span recorded there (nested spans thinner, coloured by
category), or, for a producer that recorded no spans, every chunk load as a bar from its
start to its end on the drawing thread (synchronous loads) or the workers (asynchronous).
"""

from __future__ import annotations

import re
import time
from html import escape

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    BoxAnnotation,
    ColumnDataSource,
    DataTable,
    DateFormatter,
    Div,
    FactorRange,
    HoverTool,
    LayoutDOM,
    NumberFormatter,
    Range1d,
    StringFormatter,
    TableColumn,
)
from bokeh.palettes import Category10
from bokeh.plotting import figure

from webmon.apps.common import ASYNC_COLOR, PLAIN_COLOR, SYNC_COLOR, data_table, epoch_ms, tidy

from .figures import ReportData
from .spans import RecordedSpans, recorded_spans, span_bars

#: Stalls listed in the table, and drawn as timelines.
TABLE_STALLS = 20
TIMELINE_STALLS = 6
#: Seconds of the timeline before and after each stall.
AROUND_S = 1.0
ROWS = ["frames", "drawing thread (sync loads)", "workers (async loads)"]


def stalls_section(data: ReportData) -> LayoutDOM:
    stalls = data.stall_table(TABLE_STALLS)
    title = Div(text="<h2>Worst stalls</h2>")
    if not len(data.frames):
        return column(title, Div(text="<i>No frames were recorded.</i>"))
    if not len(stalls):
        return column(title, Div(text=f"<i>No frame took more than {data.stall_ms:.1f} ms "
                                      "(twice the median frame).</i>"))
    note = Div(text=(f"{len(data.stalls()):,} frames took more than {data.stall_ms:.1f} ms "
                     f"(twice the median frame, {data.median_frame_ms:.1f} ms); the "
                     f"{len(stalls)} slowest:"))
    source = ColumnDataSource({
        "start": epoch_ms(stalls["start"].to_numpy()), "frame_ms": stalls["frame_ms"].to_numpy(),
        "loads": stalls["loads"].to_numpy(), "sync_loads": stalls["sync_loads"].to_numpy(),
        "sync_ms": stalls["sync_ms"].to_numpy(),
        "slowest_load_ms": stalls["slowest_load_ms"].to_numpy(),
        "levels": stalls["levels"].tolist()}, name="report-stalls")
    ms = NumberFormatter(format="0.0")
    count = NumberFormatter(format="0,0")
    table: DataTable = data_table(source, name="report-stalls-table",
                                  height=min(560, 40 + 28 * len(stalls)), columns=[
        TableColumn(field="start", title="began",
                    formatter=DateFormatter(format="%Y-%m-%d %H:%M:%S.%3N")),
        TableColumn(field="frame_ms", title="frame ms", formatter=ms),
        TableColumn(field="loads", title="loads during it", formatter=count),
        TableColumn(field="sync_loads", title="of which sync", formatter=count),
        TableColumn(field="sync_ms", title="sync load ms", formatter=ms),
        TableColumn(field="slowest_load_ms", title="slowest load ms", formatter=ms),
        TableColumn(field="levels", title="levels", formatter=StringFormatter()),
    ])
    spans = recorded_spans(data.recording)
    colors = _category_colors(spans)
    timelines = [_timeline(data, stalls.iloc[i], i + 1, spans, colors)
                 for i in range(min(TIMELINE_STALLS, len(stalls)))]
    if spans is not None:
        swatches = " ".join(f"<span style='color:{color}'>■</span> {escape(category)}"
                            for category, color in colors.items())
        around = ("every span of every thread, nested spans drawn thinner, coloured by "
                  f"category ({swatches})")
    else:
        around = ("every chunk load, on the drawing thread (sync) or the workers (async); the "
                  "producer recorded no spans")
    grid = [row(timelines[i: i + 2], sizing_mode="stretch_width")
            for i in range(0, len(timelines), 2)]
    return column([title, note, table,
                   Div(text=f"<h3>Around each of the worst</h3>{around}; frames as ticks, the "
                            "stall shaded."), *grid],
                  sizing_mode="stretch_width")


def _category_colors(spans: RecordedSpans | None) -> dict[str, str]:
    """One colour per span category, the same in every stall's timeline."""
    if spans is None:
        return {}
    ids = np.unique(spans.records["category"])
    names = sorted({spans.table.string(int(i)) or "–" for i in ids})
    palette = Category10[10]
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def _timeline(data: ReportData, stall: object, rank: int, spans: RecordedSpans | None,
              colors: dict[str, str]) -> figure:
    start, end = float(stall["start"]), float(stall["end"])
    lo, hi = start - AROUND_S, end + AROUND_S
    if spans is not None:
        return _span_timeline(data, spans, stall, rank, lo, hi, colors)
    loads = data.loads
    near = loads[(loads["time"] >= lo) & (loads["time"] - loads["load_ms"] / 1000.0 <= hi)]
    began = near["time"] - near["load_ms"].astype(np.float64) / 1000.0
    sync = near["sync"] != 0
    bars = ColumnDataSource({
        "left": epoch_ms(began), "right": epoch_ms(near["time"]),
        "row": [ROWS[1] if s else ROWS[2] for s in sync],
        "color": [SYNC_COLOR if s else ASYNC_COLOR for s in sync],
        "load_ms": near["load_ms"].astype(np.float64), "level": near["level"].astype(np.int64),
        "tile": [f"{r}, {c}" for r, c in zip(near["row"], near["col"], strict=True)]})
    frames = data.frames[(data.frames["time"] >= lo) & (data.frames["time"] <= hi)]
    ticks = ColumnDataSource({"time": epoch_ms(frames["time"]),
                              "delta_ms": frames["delta_ms"].astype(np.float64),
                              "row": [ROWS[0]] * len(frames)})
    when = time.strftime("%H:%M:%S", time.localtime(start))
    fig = figure(title=f"#{rank}: {stall['frame_ms']:.0f} ms frame at {when}",
                 y_range=FactorRange(*reversed(ROWS)), x_axis_type="datetime",
                 x_range=Range1d(lo * 1000.0, hi * 1000.0), height=220,
                 sizing_mode="stretch_width", tools="xpan,xwheel_zoom,reset",
                 output_backend="canvas", name=f"report-stall-{rank}")
    fig.add_layout(BoxAnnotation(left=start * 1000.0, right=end * 1000.0,
                                 fill_color=SYNC_COLOR, fill_alpha=0.15))
    loads_glyph = fig.hbar(y="row", left="left", right="right", height=0.6, source=bars,
                           color="color", alpha=0.7)
    frames_glyph = fig.scatter("time", "row", source=ticks, marker="dash", size=12,
                               angle=np.pi / 2, color=PLAIN_COLOR)
    fig.add_tools(HoverTool(renderers=[loads_glyph], tooltips=[
        ("load", "@load_ms{0.00} ms"), ("level", "@level"), ("tile", "@tile")]))
    fig.add_tools(HoverTool(renderers=[frames_glyph], tooltips=[
        ("frame", "@delta_ms{0.0} ms"), ("ended", "@time{%H:%M:%S.%3N}")],
        formatters={"@time": "datetime"}))
    return tidy(fig)


def _span_timeline(data: ReportData, spans: RecordedSpans, stall: object, rank: int,
                   lo: float, hi: float, colors: dict[str, str]) -> figure:
    start, end = float(stall["start"]), float(stall["end"])
    bars = span_bars(spans, lo, hi)
    threads = sorted(set(bars["row"]), key=_natural)
    rows = [ROWS[0], *threads]
    frames = data.frames[(data.frames["time"] >= lo) & (data.frames["time"] <= hi)]
    ticks = ColumnDataSource({"time": epoch_ms(frames["time"]),
                              "delta_ms": frames["delta_ms"].astype(np.float64),
                              "row": [ROWS[0]] * len(frames)})
    bars["color"] = [colors.get(c, "#777777") for c in bars["category"]]
    source = ColumnDataSource(bars)
    when = time.strftime("%H:%M:%S", time.localtime(start))
    fig = figure(title=f"#{rank}: {stall['frame_ms']:.0f} ms frame at {when}",
                 y_range=FactorRange(*reversed(rows)), x_axis_type="datetime",
                 x_range=Range1d(lo * 1000.0, hi * 1000.0), height=120 + 28 * len(rows),
                 sizing_mode="stretch_width", tools="xpan,xwheel_zoom,reset",
                 output_backend="canvas", name=f"report-stall-{rank}")
    fig.add_layout(BoxAnnotation(left=start * 1000.0, right=end * 1000.0,
                                 fill_color=SYNC_COLOR, fill_alpha=0.15))
    glyph = fig.hbar(y="row", left="left", right="right", height="height", source=source,
                     color="color", alpha=0.8)
    frames_glyph = fig.scatter("time", "row", source=ticks, marker="dash", size=12,
                               angle=np.pi / 2, color=PLAIN_COLOR)
    fig.add_tools(HoverTool(renderers=[glyph], tooltips=[
        ("span", "@name"), ("category", "@category"), ("thread", "@row"),
        ("duration", "@ms{0.00} ms"), ("began", "@left{%H:%M:%S.%3N}")],
        formatters={"@left": "datetime"}))
    fig.add_tools(HoverTool(renderers=[frames_glyph], tooltips=[
        ("frame", "@delta_ms{0.0} ms"), ("ended", "@time{%H:%M:%S.%3N}")],
        formatters={"@time": "datetime"}))
    return tidy(fig)


def _natural(text: str) -> list:
    """``loader 10`` after ``loader 9``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]
