"""Keeping a failing tab to its own page.

A tab (webmon's own, or one from another package: ``plugins.py``) may raise while it builds
its layout or while one of its components updates.  Building is wrapped here: the page then
shows the error in place of the tab's layout, under the usual tab bar, and every other tab
is served as before.  A component that raises while updating is caught by its session
(``session.py``), which keeps updating the others; :class:`FailureNotice` shows the error at
the top of that tab's page.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from bokeh.models import Div, LayoutDOM

from .session import Session
from .text import escape

log = logging.getLogger(__name__)

#: How much of a traceback a page shows.
TRACEBACK_CHARS = 4000
ERROR_COLOR = "#b71c1c"


def error_view(message: str, detail: str = "", name: str = "webmon-tab-error") -> Div:
    """A block saying ``message`` (and ``detail``, a traceback, in small print), escaped."""
    return Div(text=_error_html(message, detail), name=name, sizing_mode="stretch_width")


def _error_html(message: str, detail: str = "") -> str:
    if len(detail) > TRACEBACK_CHARS:
        detail = "\N{HORIZONTAL ELLIPSIS}" + detail[-TRACEBACK_CHARS:]
    pre = (f"<pre style='white-space:pre-wrap;font-size:0.85em;color:#555'>{escape(detail)}"
           "</pre>") if detail else ""
    return f"<div style='color:{ERROR_COLOR};font-weight:600'>{escape(message)}</div>{pre}"


def build_contained(build: Callable[[Session], object], session: Session,
                    what: str) -> LayoutDOM:
    """``build(session)`` as a layout, or a view of the error it raised.

    ``build`` may return a Bokeh layout, or a component (an object with ``root`` and
    ``update()``), which is then registered with the session and its ``root`` shown.
    """
    try:
        built = build(session)
        if isinstance(built, LayoutDOM):
            return built
        root = getattr(built, "root", None)
        if isinstance(root, LayoutDOM) and callable(getattr(built, "update", None)):
            session.add(built)  # type: ignore[arg-type]
            return root
        raise TypeError(f"building {what} returned {type(built).__name__}, which is neither "
                        "a Bokeh layout nor a component (an object with root and update())")
    except Exception as exc:
        log.exception("building %s failed", what)
        return error_view(f"{what} failed to build: {type(exc).__name__}: {exc}",
                          "".join(traceback.format_exception(exc)))


class FailureNotice:
    """The errors of this page's components that raised while updating, at the top of the
    page; hidden while there are none."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.root = Div(text="", visible=False, name="webmon-failures",
                        sizing_mode="stretch_width")
        self._shown: list[tuple[str, str]] = []

    def update(self) -> None:
        failures = self.session.failures()
        if failures == self._shown:
            return
        self._shown = failures
        self.root.text = "".join(
            _error_html(f"{name} failed while updating: {message}") for name, message in failures)
        self.root.visible = bool(failures)
