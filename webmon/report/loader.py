"""The report's loader section: the loader tab's charts over the whole recording, with a
range selector, then the distributions and the per-layer, per-level table.

Drawn as the loader tab draws them (its colours, markers, tooltips, statistics and table,
from ``webmon.apps``), but static: every point is in the page, decimated where a series is
long without dropping its slowest points (``decimate``).
"""

from __future__ import annotations

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    Div,
    HoverTool,
    LayoutDOM,
    LinearAxis,
    Range1d,
    RangeTool,
    Span,
)
from bokeh.plotting import figure

from webmon.apps.common import (
    ASYNC_COLOR,
    CHART_HEIGHT,
    PLAIN_COLOR,
    SYNC_COLOR,
    data_table,
    epoch_ms,
    lean,
    level_columns,
    tidy,
)
from webmon.apps.loader_stats import level_statistics, load_histogram, mode_summary

from .decimate import DEFAULT_BUDGET, keep_slowest
from .figures import ReportData

_LOAD_TOOLTIPS = [("time", "@time{%H:%M:%S.%3N}"), ("load", "@load_ms{0.00} ms"),
                  ("bytes", "@nbytes{0,0}"), ("level", "@level"), ("tile", "@row, @col")]


def _time_figure(title: str, y_label: str, x_range: Range1d, name: str,
                 height: int = CHART_HEIGHT) -> figure:
    fig = figure(title=title, name=name, height=height, sizing_mode="stretch_width",
                 x_axis_type="datetime", x_range=x_range, tools="xpan,xwheel_zoom,reset,save",
                 output_backend="canvas")
    fig.yaxis.axis_label = y_label
    return tidy(fig)


def _drawn(title: str, shown: int, total: int, what: str) -> str:
    if shown == total:
        return title
    return f"{title} ({shown:,} of {total:,} {what} drawn: the slowest of each moment kept)"


def _load_columns(records: np.ndarray) -> dict[str, np.ndarray]:
    return {"time": epoch_ms(records["time"]), "load_ms": records["load_ms"].astype(np.float64),
            "nbytes": records["nbytes"].astype(np.float64),
            "level": records["level"].astype(np.int64), "row": records["row"].astype(np.int64),
            "col": records["col"].astype(np.int64)}


def loader_section(data: ReportData, budget: int = DEFAULT_BUDGET) -> LayoutDOM:
    rec = data.recording
    frames, loads = data.frames, data.loads
    start = min([rec.started] + ([float(frames["time"][0])] if len(frames) else [])
                + ([float(loads["time"][0])] if len(loads) else []))
    end = max([rec.ended] + ([float(frames["time"][-1])] if len(frames) else [])
              + ([float(loads["time"][-1])] if len(loads) else []))
    x_range = Range1d(start * 1000.0, max(end, start + 1.0) * 1000.0, name="report-x-range")
    parts: list[LayoutDOM] = [Div(text="<h2>Loader</h2>")]

    # Overview with the range selector, then the detail charts it drives.
    rates = data.rates()
    overview = figure(title="Whole recording: drag the box, or its edges, to choose what the "
                            "charts below show", name="report-overview", height=130,
                      sizing_mode="stretch_width", x_axis_type="datetime", tools="",
                      toolbar_location=None, output_backend="canvas")
    rate_source = ColumnDataSource({k: rates[k].to_numpy() for k in rates.columns},
                                   name="report-rates")
    overview.line("time", "loads_per_s", source=rate_source, color=ASYNC_COLOR)
    if len(frames):
        ticks = ColumnDataSource({"time": epoch_ms(frames["time"][data.stalls()]),
                                  "y": np.zeros(len(data.stalls()))})
        overview.scatter("time", "y", source=ticks, marker="triangle", size=6,
                         color=SYNC_COLOR, legend_label="stall")
        overview.legend.location = "top_left"
    overview.yaxis.axis_label = "loads / s"
    selector = RangeTool(x_range=x_range)
    overview.add_tools(selector)
    overview.toolbar.active_multi = "auto"
    parts.append(overview)

    # Frame times.
    frame_fig = _time_figure("Frame time", "ms", x_range, "report-frame-times")
    if len(frames):
        keep = keep_slowest(frames["time"], frames["delta_ms"], budget)
        shown = frames[keep]
        frame_fig.title.text = _drawn("Frame time", len(keep), len(frames), "frames")
        source = ColumnDataSource({"time": epoch_ms(shown["time"]),
                                   "delta_ms": shown["delta_ms"].astype(np.float64)},
                                  name="report-frames")
        frame_fig.scatter("time", "delta_ms", source=source, size=3, color=PLAIN_COLOR)
        frame_fig.add_layout(Span(location=data.stall_ms, dimension="width",
                                  line_color=SYNC_COLOR, line_dash="dashed", line_width=1))
        frame_fig.add_tools(HoverTool(tooltips=[("time", "@time{%H:%M:%S.%3N}"),
                                                ("frame", "@delta_ms{0.0} ms")],
                                      formatters={"@time": "datetime"}))
        parts.append(lean(frame_fig))
    else:
        parts.append(Div(text="<b>Frame time</b>: <i>no frames were recorded.</i>"))

    if not len(loads):
        parts.append(Div(text="<b>Chunk loads</b>: <i>no loads were recorded.</i>"))
        return column(parts, sizing_mode="stretch_width")

    # Loads: milliseconds and bytes per chunk, asynchronous and synchronous apart.
    times = _time_figure("Milliseconds per chunk", "ms", x_range, "report-chunk-ms")
    sizes = _time_figure("Bytes per chunk", "bytes", x_range, "report-chunk-bytes")
    styles = {"async": {"size": 3, "color": ASYNC_COLOR, "legend_label": "async (worker)"},
              "sync": {"size": 5, "color": SYNC_COLOR, "marker": "triangle",
                       "legend_label": "sync (drawing thread)"}}
    drawn = 0
    is_sync = loads["sync"] != 0 if len(loads) else np.zeros(0, dtype=bool)
    for mode, style in styles.items():
        part = loads[is_sync] if mode == "sync" else loads[~is_sync]
        keep = keep_slowest(part["time"], part["load_ms"], budget)
        drawn += len(keep)
        source = ColumnDataSource(_load_columns(part[keep]), name=f"report-loads-{mode}")
        for fig, y in ((times, "load_ms"), (sizes, "nbytes")):
            fig.scatter("time", y, source=source, **style)
    for fig, title in ((times, "Milliseconds per chunk"), (sizes, "Bytes per chunk")):
        fig.title.text = _drawn(title, drawn, len(loads), "loads")
        fig.add_tools(HoverTool(tooltips=_LOAD_TOOLTIPS, formatters={"@time": "datetime"}))
        if fig.legend:
            fig.legend.location = "top_left"
            fig.legend.background_fill_alpha = 0.6
            fig.legend.click_policy = "hide"
        lean(fig)
    parts.append(row(times, sizes, sizing_mode="stretch_width"))

    # Throughput.
    throughput = _time_figure("Throughput", "loads / s", x_range, "report-throughput")
    throughput.extra_y_ranges = {"mb": Range1d(start=0.0, end=max(
        1.0, float(rates["mb_per_s"].max()) * 1.1 if len(rates) else 1.0))}
    throughput.add_layout(LinearAxis(y_range_name="mb", axis_label="MB / s"), "right")
    throughput.line("time", "loads_per_s", source=rate_source, color=ASYNC_COLOR, line_width=2,
                    legend_label="loads / s")
    throughput.line("time", "mb_per_s", source=rate_source, color=SYNC_COLOR, line_width=2,
                    y_range_name="mb", legend_label="MB / s")
    throughput.legend.location = "top_left"
    throughput.legend.background_fill_alpha = 0.6
    parts.append(lean(throughput))
    parts.append(row(_histogram(loads), _modes(loads), sizing_mode="stretch_width"))
    parts.append(_levels(data))
    return column(parts, sizing_mode="stretch_width")


def _histogram(loads: np.ndarray) -> figure:
    hist = load_histogram(loads)
    source = ColumnDataSource(hist, name="report-histogram")
    fig = figure(title="Load times, whole recording", height=CHART_HEIGHT,
                 sizing_mode="stretch_width", tools="save", x_axis_label="ms per chunk",
                 y_axis_label="loads", output_backend="canvas")
    fig.quad(left="left", right="right", bottom=0, top="async", source=source,
             color=ASYNC_COLOR, alpha=0.8, legend_label="async (worker)")
    fig.quad(left="left", right="right", bottom="async", top="total", source=source,
             color=SYNC_COLOR, alpha=0.8, legend_label="sync (drawing thread)")
    fig.add_tools(HoverTool(tooltips=[("ms", "@left{0.00} – @right{0.00}"),
                                      ("async", "@async{0}"), ("sync", "@sync{0}")]))
    fig.legend.location = "top_right"
    return lean(tidy(fig))


def _modes(loads: np.ndarray) -> figure:
    summary = mode_summary(loads)
    source = ColumnDataSource({
        "mode": ["async", "sync"], "color": [ASYNC_COLOR, SYNC_COLOR],
        "loads": summary["loads"].to_numpy(dtype=np.float64),
        "mean_ms": summary["mean_ms"].to_numpy(dtype=np.float64),
        "p95_ms": summary["p95_ms"].to_numpy(dtype=np.float64),
        "mb": summary["mb"].to_numpy(dtype=np.float64)}, name="report-modes")
    fig = figure(title="Sync vs async", x_range=["async", "sync"], height=CHART_HEIGHT,
                 width=300, tools="save", y_axis_label="loads", output_backend="canvas")
    fig.vbar(x="mode", top="loads", width=0.7, source=source, color="color")
    fig.y_range.start = 0
    fig.add_tools(HoverTool(tooltips=[("mode", "@mode"), ("loads", "@loads{0}"),
                                      ("mean", "@mean_ms{0.00} ms"), ("p95", "@p95_ms{0.00} ms"),
                                      ("volume", "@mb{0.0} MB")]))
    return lean(tidy(fig))


def _levels(data: ReportData) -> LayoutDOM:
    stats = level_statistics(data.loads, data.layer_names)
    names = [c.field for c in level_columns()]
    source = ColumnDataSource({name: (stats[name].tolist() if name == "layer_name"
                                      else stats[name].to_numpy()) for name in names},
                              name="report-levels")
    height = min(600, 40 + 28 * len(stats))
    table = data_table(source, columns=level_columns(), height=height,
                       name="report-levels-table")
    return column(Div(text=f"<h3>Per layer and level</h3>({len(data.loads):,} loads)"), table,
                  sizing_mode="stretch_width")
