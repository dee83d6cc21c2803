"""The training tab's two components, in the style of webmon's own (and the Dask
dashboard's): a Bokeh ``root``, data sources, and ``update()``."""

from __future__ import annotations

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import Button, ColumnDataSource, Div, Spinner

from webmon.apps.commands import CommandReply
from webmon.apps.common import PLAIN_COLOR, empty_columns, epoch_ms, lean, time_figure
from webmon.server import Session
from webmon.server.text import escape

#: What examples/any_app.py publishes.
BATCHES = "batches"
CONFIG = "config"
SET_LEARNING_RATE = "set_learning_rate"
#: Steps drawn at most, and the weight of each new step in the moving average.
POINTS = 3000
SMOOTHING = 0.05
_COLUMNS = {"time": "f8", "loss": "f4", "smooth": "f8"}


def moving_average(values: np.ndarray, start: float | None, weight: float) -> np.ndarray:
    """The exponential moving average of ``values``, continuing from ``start``."""
    out = np.empty(len(values), np.float64)
    current = float(values[0]) if start is None and len(values) else start
    for i, value in enumerate(values.astype(np.float64)):
        current = value if current is None else current + weight * (value - current)
        out[i] = current
    return out


class LossCurve:
    """Every step's loss (dots) and its moving average (line), over the last minute."""

    def __init__(self, session: Session) -> None:
        # A cursor hands this component the records new since its last read, first the
        # last POINTS the dashboard already holds; the hub reads shared memory once for all.
        self.cursor = session.cursor(BATCHES, backfill=POINTS, limit=POINTS)
        self.source = ColumnDataSource(empty_columns(_COLUMNS), name="training-loss")
        self.note = Div(text="<i>waiting for the batches stream of examples/any_app.py</i>",
                        name="training-note")
        fig = time_figure("Training loss", "nats", name="training-loss-figure", window_s=60.0,
                          tooltips=[("time", "@time{%H:%M:%S.%3N}"), ("loss", "@loss{0.000}"),
                                    ("average", "@smooth{0.000}")])
        fig.scatter("time", "loss", source=self.source, size=3, color="#adb5bd")
        fig.line("time", "smooth", source=self.source, color=PLAIN_COLOR, line_width=2)
        self._smooth: float | None = None
        self.root = column(self.note, lean(fig), sizing_mode="stretch_width")

    def update(self) -> None:
        increment = self.cursor.read()
        if increment.reset:  # another producer was chosen, or the program restarted
            self.source.data = empty_columns(_COLUMNS)
            self._smooth = None
        if not len(increment):
            return
        records = increment.records
        smooth = moving_average(records["loss"], self._smooth, SMOOTHING)
        self._smooth = float(smooth[-1])
        self.note.text = f"step {int(records['step'][-1]):,} · average loss {self._smooth:.4f}"
        self.source.stream({"time": epoch_ms(records["time"]),
                            "loss": np.ascontiguousarray(records["loss"]), "smooth": smooth},
                           rollover=POINTS)


class LearningRate:
    """The learning rate the program uses, and a box that changes it while it runs."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.current = Div(text="", name="training-rate-now")
        self.value = Spinner(title="new learning rate", low=1e-4, high=10.0, step=0.01,
                             value=0.02, width=140, name="training-rate-value")
        self.apply = Button(label="Set", width=70, name="training-rate-set")
        # CommandReply sends through the hub without blocking, and shows the reply or the
        # producer's error.
        self.reply = CommandReply(self.session, "training-rate-reply")
        self.apply.on_click(lambda: self.reply.send(SET_LEARNING_RATE,
                                                    value=float(self.value.value)))
        self.root = row(self.current, self.value, self.apply, self.reply.div,
                        sizing_mode="stretch_width")

    def update(self) -> None:
        config, _version = self.session.state(CONFIG)
        rate = config.get("learning_rate") if isinstance(config, dict) else None
        text = (f"learning rate <b>{escape(rate)}</b>" if rate is not None
                else "<i>no learning rate published</i>")
        if text != self.current.text:
            self.current.text = text
