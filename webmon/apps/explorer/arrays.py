"""Any shared array, live: a 2-D array as an image with a colour bar, RGB(A) bytes as a
picture, a 1-D array as a line, with its shape and dtype.

The hub reads the array decimated to a screen's worth (``webmon/server/ondemand.py``); a
line longer than :data:`LINE_POINTS` is drawn as the minimum and maximum of each stretch of
it, so no peak disappears.  Images keep the array's own coordinates (row 0 at the top, as
in napari), whatever the step they were read with.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from bokeh.layouts import column
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    DataRange1d,
    Div,
    LinearColorMapper,
)
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from webmon.server import ArraySnapshot, Session
from webmon.server.text import escape

from ..common import PLAIN_COLOR, lean
from .chooser import NameChooser
from .fields import envelope

#: Points a line is drawn with at most.
LINE_POINTS = 2000


def image_columns(snap: ArraySnapshot) -> dict[str, list[Any]]:
    """The image glyph's data: the decimated plane, spread over the array's full extent."""
    height, width = snap.shape[-2:] if snap.kind == "image" else snap.shape[:2]
    data = snap.data
    if snap.kind == "rgb":
        rgba = np.empty(data.shape[:2] + (4,), np.uint8)
        rgba[..., : data.shape[2]] = data
        if data.shape[2] == 3:
            rgba[..., 3] = 255
        plane = np.ascontiguousarray(rgba).view(np.uint32).reshape(data.shape[:2])
    else:
        plane = np.ascontiguousarray(data, dtype=np.float32)
    return {"image": [plane], "x": [0.0], "y": [0.0], "dw": [float(width)],
            "dh": [float(height)]}


def color_limits(data: np.ndarray) -> tuple[float, float]:
    finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def line_columns(snap: ArraySnapshot) -> dict[str, np.ndarray]:
    xs, ys = envelope(snap.data, LINE_POINTS)
    return {"x": xs * snap.step[0], "y": ys}


def describe_array(snap: ArraySnapshot) -> str:
    """The caption (HTML; the name is escaped)."""
    if snap.error:
        return f"<span style='color:#b71c1c'>{escape(snap.name)}: {escape(snap.error)}</span>"
    shape = " \N{MULTIPLICATION SIGN} ".join(map(str, snap.shape)) or "scalar"
    parts = [f"<b>{escape(snap.name)}</b>", shape, str(snap.dtype), f"write {snap.version}"]
    kind = snap.kind
    if kind == "none":
        parts.append("nothing to draw (not numbers, or empty)")
    elif kind == "image" and len(snap.shape) > 2:
        parts.append(f"plane [{', '.join('0' for _ in snap.shape[:-2])}] shown")
    if kind != "none" and any(step > 1 for step in snap.step):
        parts.append("every " + " \N{MULTIPLICATION SIGN} ".join(map(str, snap.step))
                     + " element shown (decimated by the dashboard)")
    if kind == "line" and len(snap.data) > LINE_POINTS:
        parts.append(f"drawn as the min and max of {LINE_POINTS // 2} stretches")
    return " \N{MIDDLE DOT} ".join(parts)


class ArrayView:
    """An array chooser and the array's picture."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.name = NameChooser("shared array", "explorer-array-name", self._start)
        self.caption = Div(text="", name="explorer-array-caption", sizing_mode="stretch_width")
        self.image_source = ColumnDataSource(
            {"image": [], "x": [], "y": [], "dw": [], "dh": []}, name="explorer-array-image")
        self.line_source = ColumnDataSource({"x": np.zeros(0), "y": np.zeros(0)},
                                            name="explorer-array-line")
        self.mapper = LinearColorMapper(palette=Viridis256, low=0.0, high=1.0)
        self.image = figure(name="explorer-array-image-figure", height=360,
                            sizing_mode="stretch_width", tools="pan,wheel_zoom,reset,hover",
                            tooltips=[("row", "$y{0}"), ("column", "$x{0}"),
                                      ("value", "@image")],
                            match_aspect=True, output_backend="canvas",
                            x_range=DataRange1d(range_padding=0.0),
                            y_range=DataRange1d(range_padding=0.0, flipped=True))
        self.image.toolbar.logo = None
        self.image_glyph = self.image.image(image="image", x="x", y="y", dw="dw", dh="dh",
                                            source=self.image_source,
                                            color_mapper=self.mapper)
        self.rgb_glyph = self.image.image_rgba(image="image", x="x", y="y", dw="dw", dh="dh",
                                               source=self.image_source, visible=False)
        self.colorbar = ColorBar(color_mapper=self.mapper, width=12,
                                 name="explorer-array-colorbar")
        self.image.add_layout(self.colorbar, "right")
        self.line = figure(name="explorer-array-line-figure", height=360,
                           sizing_mode="stretch_width", tools="xpan,xwheel_zoom,reset",
                           output_backend="canvas", visible=False)
        self.line.toolbar.logo = None
        self.line.xaxis.axis_label = "index"
        self.line.line("x", "y", source=self.line_source, color=PLAIN_COLOR)
        lean(self.line)
        self.image.visible = False
        self._shown: ArraySnapshot | None = None
        self.root = column(Div(text="<b>Shared arrays</b>"), self.name.select, self.caption,
                           self.image, self.line, sizing_mode="stretch_width")

    def show(self, name: str) -> None:
        """Show ``name`` (a click on its row in the listing)."""
        self.name.show(name)

    def _start(self) -> None:
        self._shown = None
        self.caption.text = ""
        self.image.visible = self.line.visible = False

    def update(self) -> None:
        feed = self.session.feed
        generation = feed.generation if feed is not None else None
        self.name.follow(sorted(feed.array_names()) if feed is not None else [], generation)
        if feed is None or not self.name.value:
            text = ("<i>this producer shares no arrays</i>" if feed is not None
                    else "<i>waiting for a producer</i>")
            if self.caption.text != text:
                self.caption.text = text
            return
        snap = self.session.array(self.name.value)
        if snap is None:
            self.caption.text = f"<i>reading {escape(self.name.value)}…</i>"
        elif snap is not self._shown:
            self._shown = snap
            self._draw(snap)

    def _draw(self, snap: ArraySnapshot) -> None:
        self.caption.text = describe_array(snap)
        kind = snap.kind if snap.data is not None else "none"
        if kind in ("image", "rgb"):
            columns = image_columns(snap)
            if kind == "image":
                self.mapper.low, self.mapper.high = color_limits(columns["image"][0])
            self.image_glyph.visible = kind == "image"
            self.colorbar.visible = kind == "image"
            self.rgb_glyph.visible = kind == "rgb"
            self.image_source.data = columns
        elif kind == "line":
            self.line_source.data = line_columns(snap)
        self.image.visible = kind in ("image", "rgb")
        self.line.visible = kind == "line"
