"""The "?" tool of every plot: one paragraph on what the plot shows and how to read it.

Hovering the "?" shows the paragraph as the button's tooltip; clicking it opens the
paragraph in a small box over the page (closed by its button, Escape or a click outside),
so it works the same in the dashboard, in an ``/individual-…`` page and in a notebook, with
nothing to fetch.  The box is built with ``textContent``: no text is read as HTML.
"""

from __future__ import annotations

from bokeh.models import CustomAction, CustomJS
from bokeh.plotting import figure

#: Shows ``title`` and ``text`` in a box over the page; a second click closes it.
_SHOW_HELP = """
const id = "webmon-help-box";
const old = document.getElementById(id);
if (old != null) {
  old.remove();
  if (old.dataset.title === title) { return; }
}
const box = document.createElement("div");
box.id = id;
box.dataset.title = title;
box.setAttribute("role", "dialog");
box.setAttribute("aria-label", title);
Object.assign(box.style, {
  position: "fixed", top: "4em", left: "50%", transform: "translateX(-50%)",
  maxWidth: "34em", padding: "0.9em 1.1em", background: "#fff", color: "#222",
  border: "1px solid #999", borderRadius: "6px", boxShadow: "0 4px 18px rgba(0,0,0,0.25)",
  font: "14px/1.45 system-ui, sans-serif", zIndex: "10000",
});
const heading = document.createElement("b");
heading.textContent = title;
const paragraph = document.createElement("p");
paragraph.style.margin = "0.5em 0 0.7em";
paragraph.textContent = text;
const close = document.createElement("button");
close.textContent = "Close";
box.append(heading, paragraph, close);
const remove = () => {
  box.remove();
  document.removeEventListener("keydown", on_key, true);
  document.removeEventListener("mousedown", on_outside, true);
};
const on_key = (event) => { if (event.key === "Escape") { remove(); } };
const on_outside = (event) => { if (!event.composedPath().includes(box)) { remove(); } };
close.addEventListener("click", remove);
document.addEventListener("keydown", on_key, true);
// After this click has finished, so that it does not count as a click outside.
setTimeout(() => document.addEventListener("mousedown", on_outside, true), 0);
document.body.append(box);
"""


def help_tool(title: str, text: str, name: str) -> CustomAction:
    """A "?" toolbar button showing ``text`` (one paragraph) under ``title``."""
    return CustomAction(
        icon="help", name=name, description=f"{title}: {text}",
        callback=CustomJS(args={"title": title, "text": text}, code=_SHOW_HELP),
    )


def add_help(fig: figure, title: str, text: str) -> figure:
    """Put the "?" tool on ``fig``'s toolbar, named ``<figure name>-help``."""
    fig.add_tools(help_tool(title, text, f"{fig.name}-help"))
    return fig





# -- the paragraphs ----------------------------------------------------------------------
FRAME_HELP = (
    "One point per frame the producer drew: the milliseconds since the frame before, over "
    "the last ten seconds. At 60 frames a second the points lie near 16.7 ms; points well "
    "above are stalls, when the drawing thread was busy (a synchronous tile load, a slow "
    "draw) and the picture froze for that long. Hover a point for its time.")
CHUNK_MS_HELP = (
    "One point per chunk (tile) the loader read: how many milliseconds the read itself "
    "took, over the last ten seconds. Blue dots were read by worker threads (async: the "
    "picture did not wait); orange triangles on the drawing thread (sync: the picture waited "
    "that long). High points are slow reads; a column of them is a burst of reads competing "
    "for disk or CPU. Above 100 loads a second an even sample is drawn, as the title says. "
    "Hover a point for its layer, level and tile, click it to see that tile in the Tiles "
    "tab; click a legend entry to hide that kind of load.")
CHUNK_BYTES_HELP = (
    "One point per chunk read: its size, over the same ten seconds as the chart beside it. "
    "The tiles of one layer usually share one size (a flat line); the edge tiles of an image "
    "are smaller, and a compressed store spreads them out. Size times loads per second is "
    "the data rate drawn below. Hover a point for its tile; click it to see the tile in the "
    "Tiles tab.")
LOADS_HELP = (
    "Chunks loaded per second over the last minute (a sliding one-second window, updated "
    "every second). It rises when the view moves onto tiles not yet cached, and falls to "
    "zero once everything in view is loaded or the loader is paused.")
MB_HELP = (
    "Megabytes (millions of bytes) read per second over the last minute: loads per second "
    "weighted by each chunk's size, the load the reads put on the disk or the network.")
HISTOGRAM_HELP = (
    "How long reads took over the last 30 seconds: loads per bin of milliseconds, worker "
    "(async) loads at the bottom and drawing-thread (sync) loads stacked on top. A narrow "
    "peak means steady reads; a long tail to the right means some reads are much slower "
    "(cache misses, contention). The axis ends at the 99.5th percentile so that one extreme "
    "read does not squash the rest. Click a legend entry to hide that kind of load.")
SYNC_HELP = (
    "Loads over the last 30 seconds read by worker threads (async) and on the drawing "
    "thread (sync). Sync loads make the picture wait, so that bar should stay near zero. "
    "Hover a bar for that kind's mean and 95th-percentile read time and megabytes.")
HUB_HELP = (
    "How long the dashboard's hub took on each tick over the last minute: reading every "
    "followed producer's new records and state from shared memory, before each open tab "
    "gets its update. It should stay well below the update period (--interval); spikes are "
    "the dashboard itself falling behind, not the producer.")

__all__ = ["CHUNK_BYTES_HELP", "CHUNK_MS_HELP", "FRAME_HELP", "HISTOGRAM_HELP", "HUB_HELP",
           "LOADS_HELP", "MB_HELP", "SYNC_HELP", "add_help", "help_tool"]
