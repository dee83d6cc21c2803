"""Turning producer-supplied values into text that is safe to put into HTML.

Everything a producer sends (its name, application, layer names, command replies) is data
from another process: it reaches the page only through :func:`escape` (or a Bokeh widget
that renders text, such as a ``DataTable`` with a ``StringFormatter``).
"""

from __future__ import annotations

import html
import json
from typing import Any


def escape(value: Any) -> str:
    """``value`` as text, with ``& < > " '`` escaped for HTML."""
    return html.escape(str(value), quote=True)


def describe(value: Any, limit: int = 2000) -> str:
    """A short, readable, unescaped rendering of a JSON value (a command's reply)."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, sort_keys=True, default=repr)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_duration(seconds: float | None) -> str:
    """``65.2`` -> ``1 min 5 s``; ``0.25`` -> ``0.2 s``."""
    if seconds is None:
        return "–"
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f} s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
