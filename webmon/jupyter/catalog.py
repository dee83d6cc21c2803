"""The panels a notebook can show: every dashboard tab, and every component the dashboard
serves alone at ``/individual-<name>``.

A panel's document holds only its layout: the dashboard's tab bar and producer header are
page furniture (the header even rewrites the page's address), which a notebook cell has no
use for.  Which producer a panel follows is chosen when it is shown instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bokeh.document import Document
from bokeh.models import LayoutDOM

from webmon.server import Hub, Session, Tab
from webmon.server.contain import build_contained
from webmon.server.registry import check_tabs, individual_title


class UnknownPanelError(ValueError):
    """``webmon.show()`` was given a name that is no panel; the message lists the panels."""

    def __init__(self, name: object, valid: Sequence[str]) -> None:
        self.name = name
        self.valid = list(valid)
        super().__init__(f"no webmon panel is called {name!r}; the panels are: "
                         + ", ".join(self.valid))


@dataclass(frozen=True)
class Panel:
    """One showable panel: a whole tab, or one component of a tab."""

    name: str
    title: str
    kind: Literal["tab", "component"]
    #: Creates the panel's components, registers each with the session, returns the layout.
    build: Callable[[Session], LayoutDOM]


def _contained(build: Callable[[Session], object], what: str) -> Callable[[Session], LayoutDOM]:
    """``build`` as a panel builder that shows the error it raises instead of raising."""
    def contained(session: Session) -> LayoutDOM:
        return build_contained(build, session, what)

    return contained


def panel_table(tabs: Sequence[Tab]) -> dict[str, Panel]:
    """Name -> panel for ``tabs``: each tab under its name, each component under its own.

    A tab and a component may share a name (the tiles tab is its one ``tiles`` component);
    the name then means the tab, which is what the dashboard serves at ``/<name>``.
    """
    check_tabs(tabs)
    table: dict[str, Panel] = {tab.name: Panel(tab.name, tab.title, "tab",
                                               _contained(tab.build, tab.what))
                               for tab in tabs}
    for tab in tabs:
        for name, factory in tab.components.items():
            table.setdefault(name, Panel(name, individual_title(name).removeprefix(
                "Individual "), "component", _contained(factory, f"the component {name!r}")))
    return table


def default_table() -> dict[str, Panel]:
    """Every panel of webmon's tabs and of the tabs installed packages declare."""
    from webmon.apps import installed_tabs

    return panel_table(installed_tabs())


def panels() -> list[str]:
    """Names of every panel ``webmon.show()`` accepts, sorted.

    They are the dashboard's tabs (``status``, ``loader``, ``tiles``, ``explorer``, and those
    of installed packages) and every component the dashboard also serves alone at
    ``/individual-<name>`` (``loader-frame-times``, ``status-streams``...).
    """
    return sorted(default_table())


def find_panel(name: str, table: Mapping[str, Panel] | None = None) -> Panel:
    """The panel called ``name``; :class:`UnknownPanelError` (a ``ValueError``) listing the
    valid names otherwise."""
    table = default_table() if table is None else table
    panel = table.get(name) if isinstance(name, str) else None
    if panel is None:
        raise UnknownPanelError(name, sorted(table))
    return panel


class PanelSession(Session):
    """A panel's session, which also notices that Bokeh destroyed its document without
    telling it.

    The server's expiry of an unused session (its page closed) runs the document's
    ``on_session_destroyed`` callbacks.  A cleared output makes the page call
    ``bokeh.io.notebook.destroy_server``, which destroys the session without them; the
    document then has no session context, which :class:`Session` checks at each hub tick,
    before it would schedule an update on the destroyed document; either way ``on_close``
    runs once.

    A document can also outlive its server unserved: Bokeh 3.10 builds a new session's
    document in a worker thread, and a server stopped meanwhile (``destroy_server`` again)
    cancels the session's creation, but not the building, and never destroys it.  So the
    session also closes at the first hub tick after ``server_running()`` turns False.
    """

    def __init__(self, hub: Hub, doc: Document, producer: str | None,
                 on_close: Callable[[], None] | None,
                 server_running: Callable[[], bool] | None = None) -> None:
        self._on_close = on_close
        self._server_running = server_running
        super().__init__(hub, doc, producer)
        doc.on_session_destroyed(lambda _context: self.close())

    def _on_tick(self) -> None:
        if self._server_running is not None and not self.closed and not self._server_running():
            self.close()
            return
        super()._on_tick()

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        if self._on_close is not None:
            self._on_close()


def build_panel_document(hub: Hub, panel: Panel, producer: str | None, doc: Document,
                         on_close: Callable[[], None] | None = None,
                         server_running: Callable[[], bool] | None = None) -> Session:
    """Fill ``doc`` with ``panel``, fed by ``hub``; the session closes (and ``on_close``
    runs, once) when Bokeh destroys the document's session, whichever way it does, or once
    ``server_running()`` says the server that made ``doc`` stopped."""
    session = PanelSession(hub, doc, producer, on_close, server_running)
    root = panel.build(session)
    doc.add_root(root)
    doc.title = f"webmon · {panel.title}"
    return session
