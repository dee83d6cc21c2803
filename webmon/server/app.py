"""Bokeh applications for the tabs: one per tab, one per individually served component.

Every document gets a :class:`Session` bound to the hub; ``on_session_destroyed`` closes it,
so a closed browser tab stops costing anything once Bokeh expires its session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from importlib import resources

import jinja2
from bokeh.application import Application
from bokeh.application.handlers import FunctionHandler
from bokeh.document import Document
from bokeh.layouts import column

from .contain import FailureNotice, build_contained
from .header import ProducerHeader
from .hub import Hub
from .painting import add_page_script
from .record_button import RecordButton, Recordings
from .registry import Tab, check_tabs, individual_title
from .replay_bar import ReplayControls
from .session import Component, Session, request_argument

log = logging.getLogger(__name__)


def _load_template(name: str) -> str:
    return resources.files(__package__).joinpath("templates").joinpath(name).read_text("utf-8")


_TEMPLATES = jinja2.Environment(
    loader=jinja2.FunctionLoader(_load_template),
    autoescape=True,  # producer strings reach this template; escape all but embed() output
    trim_blocks=True,
    lstrip_blocks=True,
)


def tab_template() -> jinja2.Template:
    return _TEMPLATES.get_template("tab.html")


def producer_argument(doc: Document) -> str | None:
    """The ``?producer=`` of the page's address, if any."""
    return request_argument(doc, "producer")


def _bind_session(hub: Hub, doc: Document) -> Session:
    session = Session(hub, doc, producer_argument(doc))
    doc.on_session_destroyed(lambda _context: session.close())
    add_page_script(doc, session.set_hidden)
    return session


def build_tab_document(hub: Hub, tabs: Sequence[Tab], tab: Tab, doc: Document,
                       recordings: Recordings | None = None) -> Session:
    """Fill ``doc`` with ``tab`` under the tab bar (with a Record button when the dashboard
    has ``recordings``)."""
    session = _bind_session(hub, doc)
    header = ProducerHeader(session)
    session.before_update(header.update)
    replay = ReplayControls(session)
    session.before_update(replay.update)
    extras = [replay.root]
    if recordings is not None:
        record = RecordButton(session, recordings)
        session.before_update(record.update)
        extras.append(record.root)
    notice = FailureNotice(session)
    session.before_update(notice.update)
    body = column(notice.root, build_contained(tab.build, session, tab.what),
                  name="webmon-main", sizing_mode="stretch_width")
    doc.add_root(body)
    doc.add_root(header.selector)
    doc.add_root(header.source)
    for extra in extras:
        doc.add_root(extra)
    text = header.text()
    doc.title = f"webmon · {tab.title}"
    doc.template = tab_template()
    doc.template_variables.update(
        tabs=[{"path": t.name, "title": t.title, "active": t is tab} for t in tabs],
        active_title=tab.title,
        producer=text.producer,
        state=text.state,
        detail=text.detail,
        header_extras=[extra.name for extra in extras],
        waiting_for=text.waiting_for,
    )
    return session


def build_individual_document(hub: Hub, name: str,
                              factory: Callable[[Session], Component], doc: Document) -> Session:
    """Fill ``doc`` with the single component ``name``, for embedding."""
    session = _bind_session(hub, doc)
    doc.add_root(build_contained(factory, session, f"the component {name!r}"))
    doc.title = individual_title(name)
    return session


def make_applications(hub: Hub, tabs: Sequence[Tab],
                      recordings: Recordings | None = None) -> dict[str, Application]:
    """URL path -> Bokeh application, for every tab and every component of every tab."""
    check_tabs(tabs)
    apps: dict[str, Application] = {}
    for tab in tabs:
        apps[f"/{tab.name}"] = Application(FunctionHandler(
            _tab_handler(hub, tabs, tab, recordings)))
        for name, factory in tab.components.items():
            apps[f"/individual-{name}"] = Application(
                FunctionHandler(partial(_quiet(build_individual_document), hub, name, factory)))
    return apps


def individual_paths(tabs: Sequence[Tab]) -> dict[str, str]:
    """Title -> path of every individually served component, as the Dask dashboard lists
    them at ``/individual-plots.json`` (paths relative to the dashboard's root)."""
    return {individual_title(name): f"/individual-{name}"
            for tab in tabs for name in tab.components}


def _tab_handler(hub: Hub, tabs: Sequence[Tab], tab: Tab,
                 recordings: Recordings | None) -> Callable[[Document], None]:
    def handler(doc: Document) -> None:
        build_tab_document(hub, tabs, tab, doc, recordings)

    return handler


def _quiet(build: Callable[..., Session]) -> Callable[..., None]:
    # FunctionHandler expects a function returning None.
    def handler(*args: object) -> None:
        build(*args)

    return handler
