"""The webmon dock widget for napari (contributed by ``napari.yaml``).

Start and stop publishing the viewer's telemetry, and start ``webmon dashboard`` in the
background and open it in a browser.

The widget shows and controls the viewer's attachment whoever made it: one made by
``webmon.napari.attach(viewer)`` in a script or the console is shown as publishing, and
"Stop publishing" detaches it; the widget never adds a second producer for the viewer.  It
checks every ``SYNC_MS`` for attachments made or detached elsewhere.  Its dashboard link is
drawn in the text colour of napari's theme (underlined), so it reads in the dark and the
light theme alike, and follows a change of theme.
"""

from __future__ import annotations

import atexit
import html
import os
import webbrowser
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QCoreApplication, QObject, QTimer, Signal
from qtpy.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from webmon.shm import WebmonError

from .adapter import Attachment, attach, attachments
from .dashboard import DashboardProcess

if TYPE_CHECKING:
    import napari

#: How often the widget looks for attachments made or detached outside it, in ms.
SYNC_MS = 500
#: The link's colour when napari's theme cannot be read (napari's dark theme's text).
FALLBACK_TEXT_COLOR = "#f0f1f2"


def theme_text_color(viewer: Any) -> str:
    """The text colour of ``viewer``'s napari theme, as ``#rrggbb``."""
    try:
        from napari.utils.theme import get_theme

        return str(get_theme(getattr(viewer, "theme", "dark")).text.as_hex())
    except Exception:  # an unknown theme name, or a napari without themes
        return FALLBACK_TEXT_COLOR


def link_html(url: str, color: str) -> str:
    """``Dashboard: <url>`` as a link in ``color``, underlined (escaped)."""
    safe = html.escape(url, quote=True)
    return (f'Dashboard: <a href="{safe}" style="color:{html.escape(color, quote=True)};'
            f'text-decoration:underline">{safe}</a>')


class _Relay(QObject):
    """Carries the dashboard's URL from its output-reading thread to the GUI thread."""

    url = Signal(str)
    ended = Signal()


class WebmonWidget(QWidget):
    """Publish this viewer to webmon and open the dashboard."""

    def __init__(self, napari_viewer: napari.viewer.Viewer, parent: QWidget | None = None,
                 *, dashboard_command: list[str] | None = None,
                 open_url: Callable[[str], Any] = webbrowser.open) -> None:
        super().__init__(parent)
        # napari passes a PublicOnlyProxy; the adapter works on the viewer itself.
        self.viewer = getattr(napari_viewer, "__wrapped__", napari_viewer)
        self.attachment: Attachment | None = None
        #: True when this widget made :attr:`attachment` (else ``attach()`` did, elsewhere).
        self.own_attachment = False
        self.open_url = open_url
        self._relay = _Relay(self)
        self._relay.url.connect(self._dashboard_ready)
        self._relay.ended.connect(self._dashboard_ended)
        self.dashboard = DashboardProcess(dashboard_command, on_url=self._relay.url.emit,
                                          on_exit=self._relay.ended.emit)

        self.name_edit = QLineEdit("napari")
        self.name_edit.setToolTip("Producer name shown in the dashboard")
        self.publish_button = QPushButton("Start publishing")
        self.publish_button.clicked.connect(self.toggle_publishing)
        self.status_label = QLabel("Not publishing")
        self.status_label.setWordWrap(True)
        self.dashboard_button = QPushButton("Open dashboard")
        self.dashboard_button.clicked.connect(self.open_dashboard)
        self.url_label = QLabel("")
        self.url_label.setOpenExternalLinks(True)
        # One line: a URL broken across lines is hard to read and to select.
        self.url_label.setWordWrap(False)
        self._url: str | None = None

        name_row = QHBoxLayout()
        name_row.addWidget(QLabel("Name"))
        name_row.addWidget(self.name_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(name_row)
        layout.addWidget(self.publish_button)
        layout.addWidget(self.status_label)
        layout.addWidget(self.dashboard_button)
        layout.addWidget(self.url_label)
        layout.addStretch(1)

        # The dashboard started here ends with napari, not as an orphan.
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        dashboard = self.dashboard
        atexit.register(dashboard.stop)
        self.destroyed.connect(lambda *_: dashboard.stop())

        theme = getattr(getattr(self.viewer, "events", None), "theme", None)
        if theme is not None:
            theme.connect(self._restyle_link)
            self.destroyed.connect(lambda *_: theme.disconnect(self._restyle_link))
        # Attachments made or detached outside the widget (a script, napari's console).
        self._sync_timer = QTimer(self)
        self._sync_timer.setInterval(SYNC_MS)
        self._sync_timer.timeout.connect(self.sync)
        self._sync_timer.start()
        self.sync()

    # -- publishing -----------------------------------------------------------------------

    @property
    def publishing(self) -> bool:
        return self.attachment is not None and not self.attachment.closed

    def sync(self) -> None:
        """Show the viewer's attachment: the one shown unless it was detached, else any
        other publishing the viewer (made by ``attach()``), else none."""
        if not self.publishing:
            live = attachments(self.viewer)
            self.attachment = live[0] if live else None
            self.own_attachment = False
        self._show_state()

    def _show_state(self) -> None:
        attachment = self.attachment if self.publishing else None
        if attachment is None:
            self.name_edit.setEnabled(True)
            self.publish_button.setText("Start publishing")
            self.status_label.setText("Not publishing")
            return
        name = attachment.pub.name
        if self.name_edit.text() != name:
            self.name_edit.setText(name)
        self.name_edit.setEnabled(False)
        self.publish_button.setText("Stop publishing")
        by = "" if self.own_attachment else ", attached by webmon.napari.attach()"
        self.status_label.setText(f"Publishing as {name!r} (pid {os.getpid()}{by})")

    def toggle_publishing(self) -> None:
        if self.publishing:
            self.stop_publishing()
        else:
            self.start_publishing()

    def start_publishing(self) -> None:
        """Publish the viewer: through the attachment it already has, if any."""
        self.sync()
        if self.publishing:
            return
        name = self.name_edit.text().strip() or "napari"
        try:
            self.attachment = attach(self.viewer, name)
        except (ValueError, OSError, WebmonError) as exc:
            self.attachment = None
            self.status_label.setText(f"Could not publish: {exc}")
            return
        self.own_attachment = True
        self._show_state()

    def stop_publishing(self) -> None:
        """Stop publishing the viewer (detaching the attachment shown, whoever made it)."""
        if self.attachment is not None:
            self.attachment.detach()
            self.attachment = None
        self.own_attachment = False
        self.sync()

    # -- dashboard ------------------------------------------------------------------------

    def open_dashboard(self) -> None:
        """Open the dashboard in a browser, starting ``webmon dashboard`` first if needed;
        publishing starts too, since a dashboard with nothing to show is of little use."""
        self.start_publishing()
        if self.dashboard.running and self.dashboard.url:
            self.open_url(self.dashboard.url)
            return
        if self.dashboard.running:
            return  # started, address not printed yet: _dashboard_ready opens it
        try:
            self.dashboard.start()
        except OSError as exc:
            self.url_label.setText(f"Could not start the dashboard: {html.escape(str(exc))}")
            return
        self.url_label.setText("Starting the dashboard...")

    def _dashboard_ready(self, url: str) -> None:
        self._url = url
        self._restyle_link()
        self.open_url(url)

    def _restyle_link(self, event: Any = None) -> None:
        if self._url is not None:
            self.url_label.setText(link_html(self._url, theme_text_color(self.viewer)))

    def _dashboard_ended(self) -> None:
        self._url = None
        if self.dashboard.url is None:
            last = "\n".join(list(self.dashboard.output)[-3:]) or "no output"
            self.url_label.setText(f"The dashboard exited: {html.escape(last)}")
        else:
            self.url_label.setText("The dashboard has stopped")

    def shutdown(self) -> None:
        """End the dashboard this widget started, and the publishing it started (an
        attachment made by ``attach()`` is left to whoever made it)."""
        self._sync_timer.stop()
        if self.own_attachment and self.attachment is not None:
            self.attachment.detach()
        self.attachment = None
        self.own_attachment = False
        self.dashboard.stop()

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        # Shown again after a close: follow the viewer's attachments again.
        if not self._sync_timer.isActive():
            self._sync_timer.start()
            self.sync()
        super().showEvent(event)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        self.shutdown()
        super().closeEvent(event)
