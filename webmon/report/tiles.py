"""The report's tiles: per multiscale level, a heat map of how often each tile loaded and of
its mean load time; and the tile viewer (the Tiles tab's three.js model) showing what was in
view and loading at the worst stall.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

import numpy as np
import pandas as pd
from bokeh.layouts import column, row
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    Div,
    HoverTool,
    LayoutDOM,
    LinearColorMapper,
    LogColorMapper,
    Range1d,
    TabPanel,
    Tabs,
)
from bokeh.palettes import Magma256, Viridis256
from bokeh.plotting import figure

from webmon.apps.common import tidy
from webmon.schema import TILES
from webmon.tiles import parse_entry, tiles_entry_to_inputs
from webmon.tiles_extension import TileViewer

from .figures import ReportData

#: A level with more distinct tiles than this is drawn in blocks of tiles (said on it).
MAX_CELLS = 20_000
HEATMAP_HEIGHT = 420


def tiles_section(data: ReportData) -> LayoutDOM:
    parts: list[LayoutDOM] = [Div(text="<h2>Tiles</h2>")]
    if not len(data.loads):
        return column(*parts, Div(text="<i>No loads were recorded.</i>"))
    tiles = data.tile_loads()
    grids = _grids(data)
    panels = []
    for (layer, level), cells in tiles.groupby(["layer", "level"], sort=True):
        name = data.layer_names.get(int(layer), f"layer {int(layer)}")
        grid = grids.get((int(layer), int(level)))
        panels.append(TabPanel(child=_level_maps(cells, int(layer), int(level), grid),
                               title=f"{name} · level {int(level)}"))
    parts.append(Div(text="How often each tile loaded (left) and how long it took on average "
                          "(right), per layer and level; +Y points down as in napari."))
    parts.append(Tabs(tabs=panels, name="report-tile-levels", sizing_mode="stretch_width"))
    viewer = _viewer_at_worst_stall(data)
    if viewer is not None:
        parts.append(viewer)
    return column(parts, sizing_mode="stretch_width")


def _blocks(cells: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Cells merged into blocks of ``k`` x ``k`` tiles, the smallest ``k`` that leaves at most
    ``MAX_CELLS`` blocks (``k`` = 1: the tiles themselves)."""
    k = 1
    while True:
        rows, cols = cells["row"] // k, cells["col"] // k
        if k > 1:
            merged = cells.assign(row=rows, col=cols, total_ms=cells["mean_ms"] * cells["loads"])
            grouped = merged.groupby(["row", "col"], sort=False)
            out = grouped.agg(loads=("loads", "sum"), total_ms=("total_ms", "sum"),
                              max_ms=("max_ms", "max")).reset_index()
            out["mean_ms"] = out["total_ms"] / out["loads"]
        else:
            out = cells
        if len(out) <= MAX_CELLS:
            return out, k
        k *= 2


def _grids(data: ReportData) -> dict[tuple[int, int], tuple[int, int]]:
    """(layer, level) -> (rows, cols) of its tile grid, from the last recorded ``tiles``
    state, so that a heat map shows where in the image its tiles are."""
    rec = data.recording
    if TILES not in rec.states or not len(rec.states[TILES]):
        return {}
    value = rec.states[TILES].iloc[-1]
    grids = {}
    for key, entry in (value.items() if isinstance(value, dict) else []):
        try:
            layer = int(key)
            for info in parse_entry(entry).levels:
                grids[(layer, info.level)] = info.tiles
        except (TypeError, ValueError):
            continue
    return grids


def _level_maps(cells: pd.DataFrame, layer: int, level: int,
                grid: tuple[int, int] | None) -> LayoutDOM:
    blocks, k = _blocks(cells)
    source = ColumnDataSource({
        "x": (blocks["col"].to_numpy() + 0.5) * k, "y": (blocks["row"].to_numpy() + 0.5) * k,
        "row": blocks["row"].to_numpy() * k, "col": blocks["col"].to_numpy() * k,
        "loads": blocks["loads"].to_numpy(dtype=np.float64),
        "mean_ms": blocks["mean_ms"].to_numpy(dtype=np.float64),
        "max_ms": blocks["max_ms"].to_numpy(dtype=np.float64)},
        name=f"report-tiles-{layer}-{level}")
    note = "" if k == 1 else f" (blocks of {k} x {k} tiles)"
    counts = LogColorMapper(palette=Viridis256, low=1, high=max(2.0, blocks["loads"].max()))
    means = LinearColorMapper(palette=Magma256, low=0.0,
                              high=max(1e-3, float(blocks["mean_ms"].max())))
    figures = []
    for field, mapper, title, label in (
            ("loads", counts, f"Loads per tile{note}", "loads"),
            ("mean_ms", means, f"Mean load ms per tile{note}", "ms")):
        ranges = {}
        if grid is not None and grid[0] > 0 and grid[1] > 0:
            ranges = {"x_range": Range1d(0, grid[1]), "y_range": Range1d(grid[0], 0)}
        fig = figure(title=title, height=HEATMAP_HEIGHT, sizing_mode="stretch_width",
                     match_aspect=True, tools="pan,wheel_zoom,reset,save",
                     x_axis_label="column", y_axis_label="row", output_backend="canvas",
                     name=f"report-tiles-{field}-{layer}-{level}", **ranges)
        if not ranges:
            fig.y_range.flipped = True  # +Y down, as napari and the tile viewer draw it
        fig.rect("x", "y", width=0.95 * k, height=0.95 * k, source=source,
                 fill_color={"field": field, "transform": mapper}, line_color=None)
        fig.add_layout(ColorBar(color_mapper=mapper, title=label), "right")
        fig.add_tools(HoverTool(tooltips=[("tile", "@row, @col"), ("loads", "@loads{0,0}"),
                                          ("mean", "@mean_ms{0.00} ms"),
                                          ("slowest", "@max_ms{0.00} ms")]))
        figures.append(tidy(fig))
    if len(figures) == 2:
        figures[1].x_range = figures[0].x_range
        figures[1].y_range = figures[0].y_range
    return row(figures, sizing_mode="stretch_width")


def _viewer_at_worst_stall(data: ReportData) -> LayoutDOM | None:
    """The tile viewer showing the recorded ``tiles`` state current at the worst stall (or
    the last one, without stalls); None when the recording has no tiles state."""
    rec = data.recording
    if TILES not in rec.states:
        return None
    stalls = data.stalls()
    at = float(data.frames["time"][stalls[0]]) if len(stalls) else rec.ended
    value: Any = rec.state_at(TILES, at)
    if not isinstance(value, dict):
        return None
    for key, entry in value.items():
        if not isinstance(entry, dict):
            continue
        try:
            inputs = tiles_entry_to_inputs(entry)
        except (ValueError, TypeError):
            continue
        viewer = TileViewer(name="report-tile-viewer", sizing_mode="stretch_width", height=520)
        viewer.show(inputs)
        when = time.strftime("%H:%M:%S", time.localtime(at))
        what = "at the worst stall" if len(stalls) else "at the end of the recording"
        layer = escape(str(entry.get("layer", key)))
        title = Div(text=(f"<h3>Tiles {what} ({when})</h3>Layer {layer}, level "
                          f"{inputs.level}: in view (red), loading (violet), loaded "
                          "(blue); the yellow frame is the view."))
        return column(title, viewer, sizing_mode="stretch_width")
    return None
