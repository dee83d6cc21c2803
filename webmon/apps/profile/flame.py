"""The profile tab's component: the flame graph (an icicle) and its controls.

Once a second, or at once when the user changes a control or clicks a bar, the chosen
records are counted per call path (``records``, ``tree``), laid out (``view``) and sent as
one new ``data`` of the graph's source.  What the producer sent is checked first (``data``):
a malformed value shows its problem above the graph and draws nothing from it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bokeh.events import DoubleTap, PressUp, Tap
from bokeh.layouts import column, row
from bokeh.models import (
    Button,
    ColumnDataSource,
    Div,
    HoverTool,
    Range1d,
    Select,
    Spinner,
)
from bokeh.plotting import figure

from webmon.schema import CMD_SET_PROFILER, PROFILE, PROFILE_SAMPLES, PROFILE_STACKS
from webmon.server import Session
from webmon.server.text import escape

from ..commands import ERROR_STYLE, CommandReply
from ..common import Every, tidy
from .data import (
    EMPTY_STACKS,
    ProfileDataError,
    ProfileInfo,
    check_samples,
    parse_profile,
    parse_stacks,
)
from .records import WINDOWS, ProfileRecords
from .tree import TreeShape
from .view import (
    ANCESTOR,
    CALL,
    COLUMNS,
    FRAME_FILTERS,
    ROOT,
    THREAD,
    Selection,
    draw,
    thread_label,
)

log = logging.getLogger(__name__)

#: The graph is redrawn this often while new counts come (the producer publishes once a
#: second).
REDRAW_S = 1.0
ROW_PX = 20
MIN_HEIGHT = 240
MAX_ROWS = 150
ALL = "all"


def _empty() -> dict[str, list]:
    return {key: [] for key in COLUMNS}


class ProfileFlame:
    """Flame graph of the producer's threads, with the choice of thread, window, frames."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.every = Every(REDRAW_S)
        self.selection = Selection()
        self._dirty = True
        self._stacks_version: tuple[Any, int] | None = None
        self._stacks_problem: str | None = None
        self._shape = TreeShape.of(EMPTY_STACKS)
        self._info: ProfileInfo | None = None
        self._problem: str | None = None
        self._cpu_seen: tuple[float, float] | None = None
        self._settings_version: tuple[int, int] | None = None
        self.cpu_percent: float | None = None

        self.source = ColumnDataSource(_empty(), name="profile-flame")
        self.thread = Select(title="Thread", value=ALL, options=[(ALL, "all threads")],
                             name="profile-thread", width=260)
        self.window = Select(title="Window", value="last 10 s", options=list(WINDOWS),
                             name="profile-window", width=160)
        self.frames = Select(title="Samples", value="all samples", options=list(FRAME_FILTERS),
                             name="profile-frames", width=200)
        self.reset = Button(label="Zoom out", name="profile-reset", width=100)
        self.rate = Spinner(title="Rate (Hz)", value=100, low=1, high=1000, step=10,
                            width=100, name="profile-rate")
        self.slow_ms = Spinner(title="Slow frame (ms)", value=50, low=1, high=60000, step=5,
                               width=120, name="profile-slow-ms")
        self.apply = Button(label="Apply", name="profile-apply", width=80)
        self.replies = CommandReply(session, "profile-reply")
        self.status = Div(text="", name="profile-status", sizing_mode="stretch_width")
        self.message = Div(text="", name="profile-message", sizing_mode="stretch_width")

        fig = figure(name="profile-flame-figure", height=MIN_HEIGHT, sizing_mode="stretch_width",
                     x_range=Range1d(0, 1, bounds=(0, 1)), y_range=Range1d(-1, 0),
                     tools="", toolbar_location=None, output_backend="canvas")
        bars = fig.quad(left="left", right="right", top="top", bottom="bottom",
                        fill_color="color", line_color="white", line_width=1,
                        source=self.source, name="profile-bars")
        bars.selection_glyph = None
        bars.nonselection_glyph = None
        fig.text(x="left", y="top", text="label", source=self.source, x_offset=3, y_offset=3,
                 text_font_size="11px", text_baseline="top", text_color="#222222")
        fig.add_tools(HoverTool(renderers=[bars], point_policy="follow_mouse", tooltips=[
            ("function", "@name"), ("file", "@location"), ("samples", "@samples{0,0}"),
            ("percent", "@percent{0.0}%")]))
        fig.axis.visible = False
        fig.grid.visible = False
        fig.outline_line_color = None
        fig.min_border = 0
        self.figure = tidy(fig)
        # A tap says where (in the graph's coordinates), not which bar of which version of
        # the data the browser had: the bar there now is the one clicked.  BokehJS makes a
        # second click soon after a first a double tap (not a tap), and a click released
        # after its press threshold a press (a slow hand, or a busy page that handled the
        # release late): each is a click here too.
        for event in (Tap, DoubleTap, PressUp):
            fig.on_event(event, self._on_tap)
        for widget in (self.thread, self.window, self.frames):
            widget.on_change("value", self._on_control)
        self.reset.on_click(self._zoom_out)
        self.apply.on_click(self._apply)
        self.root = column(
            row(self.thread, self.window, self.frames, self.reset, self.rate, self.slow_ms,
                self.apply, sizing_mode="stretch_width"),
            self.replies.div, self.status, self.message, self.figure,
            sizing_mode="stretch_width",
        )

    # -- user actions -------------------------------------------------------------------
    def _on_control(self, attr: str, old: Any, new: Any) -> None:
        self.selection.thread = None if self.thread.value == ALL else int(self.thread.value)
        self.selection.frames = FRAME_FILTERS.get(self.frames.value)
        if attr == "value" and old != new:
            self.selection.zoom = 0
        self._dirty = True
        self.update()

    def _on_tap(self, event: Tap | DoubleTap | PressUp) -> None:
        bar = self.bar_at(event.x, event.y)
        if bar is not None:
            self.click(*bar)

    def bar_at(self, x: float | None, y: float | None) -> tuple[str, int, int] | None:
        """``(kind, node, thread)`` of the bar drawn at ``(x, y)``, if any."""
        if x is None or y is None:
            return None
        data = self.source.data
        for i, (left, right, top, bottom) in enumerate(zip(
                data["left"], data["right"], data["top"], data["bottom"], strict=True)):
            if left <= x < right and bottom < y <= top:
                return data["kind"][i], int(data["node"][i]), int(data["thread"][i])
        return None

    def click(self, kind: str, node: int, thread: int) -> None:
        """What a click on a bar does: zoom into it, or back out to it."""
        if kind == ROOT:
            self._choose_thread(None, 0)
        elif kind == THREAD:
            self._choose_thread(thread, 0)
        elif kind == ANCESTOR:
            self.selection.zoom = node
        elif kind == CALL:
            if self.selection.thread is None:
                self._choose_thread(thread, node)
            elif node == self.selection.zoom and node != 0:
                self.selection.zoom = int(self._shape.stacks.parent[node])  # back out
            else:
                self.selection.zoom = node
        self._dirty = True
        self.update()

    def _choose_thread(self, thread: int | None, zoom: int) -> None:
        value = ALL if thread is None else str(thread)
        if value not in [v for v, _ in self.thread.options]:
            return
        self.selection.thread = thread
        self.thread.value = value  # its callback resets the zoom...
        self.selection.zoom = zoom  # ...so the zoom is set after

    def _zoom_out(self) -> None:
        self.selection.zoom = 0
        self._dirty = True
        self.update()

    def _apply(self) -> None:
        self.replies.send(CMD_SET_PROFILER, rate=float(self.rate.value or 100),
                          slow_ms=float(self.slow_ms.value or 50))

    # -- updates ------------------------------------------------------------------------
    def update(self) -> None:
        feed = self.session.feed
        info_value, info_version = self.session.state(PROFILE)  # asking keeps it sampling
        stacks_value, stacks_version = self.session.state(PROFILE_STACKS)
        if feed is None:
            self.message.text = "<i>no producer</i>"
            self._set_data(_empty(), 0)
            return
        self.apply.disabled = CMD_SET_PROFILER not in feed.commands
        key = (feed.generation, stacks_version)
        if key != self._stacks_version:
            # Checked and shaped once per version, for every session of the producer (a
            # malformed value raises in each, once: its problem is kept with the version).
            self._stacks_version = key
            self._stacks_problem = None
            self._shape = TreeShape.of(EMPTY_STACKS)
            self._dirty = True
            try:
                self._shape = feed.shared(("profile-shape", feed.generation), stacks_version,
                                          lambda: TreeShape.of(parse_stacks(stacks_value)))
            except ProfileDataError as exc:
                self._stacks_problem = str(exc)
        try:
            if self._stacks_problem is not None:
                raise ProfileDataError(self._stacks_problem)
            self._info = parse_profile(info_value)
            history = feed.history(PROFILE_SAMPLES)
            if history is not None:
                check_samples(history.dtype)
        except ProfileDataError as exc:
            self._show_problem(f"the producer's profile cannot be shown: {exc}")
            return
        self._problem = None
        self._update_settings((feed.generation, info_version))
        if history is None:
            self.message.text = (
                "<i>no profile yet: the producer samples only while a dashboard shows this "
                "tab</i>" if PROFILE_SAMPLES in feed.stream_names() else
                "<i>this producer has no profiler (webmon.instruments.Profiler)</i>")
            self._set_data(_empty(), 0)
            return
        if not (self._dirty or self.every.due()):
            return
        self._dirty = False
        records = feed.shared(("profile-records", feed.generation), 0, ProfileRecords)
        chosen = records.window(history, WINDOWS.get(self.window.value, 10.0))
        drawing = draw(self._shape, self._info.threads if self._info else [], chosen,
                       self.selection)
        self._set_data(drawing.columns, drawing.rows)
        self.message.text = self._describe(drawing.total, drawing.unknown, records.missed)

    def _update_settings(self, version: tuple[int, int]) -> None:
        info = self._info
        options = [(ALL, "all threads")]
        if info is not None:
            options += [(str(i), thread_label(t, i)) for i, t in enumerate(info.threads)]
        if options != [tuple(o) for o in self.thread.options]:
            self.thread.options = options
        if info is None:
            self.status.text = "<i>the profiler has published nothing yet</i>"
            return
        if version != self._settings_version:  # the producer's settings, as it confirmed them
            self._settings_version = version
            if info.rate is not None:
                self.rate.value = info.rate
            if info.slow_ms is not None:
                self.slow_ms.value = info.slow_ms
        now = time.monotonic()
        if info.cpu_s is not None:
            seen = self._cpu_seen
            if seen is None or info.cpu_s < seen[1]:
                self._cpu_seen = (now, info.cpu_s)
            elif now - seen[0] >= 5.0:
                self.cpu_percent = 100.0 * (info.cpu_s - seen[1]) / (now - seen[0])
                self._cpu_seen = (now, info.cpu_s)
        parts = [
            "<b>sampling</b>" if info.running else "<b>stopped</b>",
            f"{info.rate:g} samples/s" if info.rate is not None else "",
            f"slow frames: over {info.slow_ms:g} ms" if info.slow_ms is not None else "",
            f"{len(info.threads)} threads seen",
            f"{info.samples:,} samples taken" if info.samples is not None else "",
            (f"sampling thread: {self.cpu_percent:.1f}% of a core"
             if self.cpu_percent is not None else ""),
        ]
        self.status.text = "Profiler: " + " · ".join(p for p in parts if p)

    def _describe(self, total: float, unknown: int, missed: int) -> str:
        thread = "all threads" if self.selection.thread is None else escape(
            dict(self.thread.options).get(self.thread.value, "?"))
        text = (f"{int(total):,} samples · {thread} · {escape(self.window.value)} · "
                f"{escape(self.frames.value)}. Click a bar to zoom into it, a bar above "
                f"to zoom back out.")
        if unknown:
            text += f" <span style='{ERROR_STYLE}'>{unknown:,} samples named call paths " \
                    f"the producer did not publish.</span>"
        if missed and self.window.value == "since it started":
            text += f" ({missed:,} records arrived while nobody looked and were dropped.)"
        return text

    def _show_problem(self, text: str) -> None:
        if text != self._problem:
            self._problem = text
            log.warning("profile tab: %s", text)
        self.message.text = f"<span style='{ERROR_STYLE}'>{escape(text)}</span>"
        self._set_data(_empty(), 0)

    def _set_data(self, columns: dict[str, list], rows: int) -> None:
        if columns == self.source.data:
            return
        self.source.data = columns
        shown = min(max(rows, 1), MAX_ROWS)
        self.figure.y_range.start = -shown
        self.figure.y_range.end = 0
        self.figure.height = max(MIN_HEIGHT, shown * ROW_PX)

