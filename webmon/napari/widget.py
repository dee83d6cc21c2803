"""The webmon dock widget for napari (contributed by ``napari.yaml``).

Start and stop publishing the viewer's telemetry, and start ``webmon dashboard`` in the
background and open it in a browser.
"""

from __future__ import annotations

import atexit
import html
import webbrowser
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QCoreApplication, QObject, Signal
from qtpy.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from webmon.shm import WebmonError

from .adapter import Attachment, attach
from .dashboard import DashboardProcess

if TYPE_CHECKING:
    import napari


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
        self.url_label.setWordWrap(True)

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

    # -- publishing -----------------------------------------------------------------------

    @property
    def publishing(self) -> bool:
        return self.attachment is not None and not self.attachment.closed

    def toggle_publishing(self) -> None:
        if self.publishing:
            self.stop_publishing()
        else:
            self.start_publishing()

    def start_publishing(self) -> None:
        if self.publishing:
            return
        name = self.name_edit.text().strip() or "napari"
        try:
            self.attachment = attach(self.viewer, name)
        except (ValueError, OSError, WebmonError) as exc:
            self.attachment = None
            self.status_label.setText(f"Could not publish: {exc}")
            return
        self.name_edit.setEnabled(False)
        self.publish_button.setText("Stop publishing")
        self.status_label.setText(f"Publishing as {name!r}")

    def stop_publishing(self) -> None:
        if self.attachment is not None:
            self.attachment.detach()
            self.attachment = None
        self.name_edit.setEnabled(True)
        self.publish_button.setText("Start publishing")
        self.status_label.setText("Not publishing")

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
        safe = html.escape(url, quote=True)
        self.url_label.setText(f'Dashboard: <a href="{safe}">{safe}</a>')
        self.open_url(url)

    def _dashboard_ended(self) -> None:
        if self.dashboard.url is None:
            last = "\n".join(list(self.dashboard.output)[-3:]) or "no output"
            self.url_label.setText(f"The dashboard exited: {html.escape(last)}")
        else:
            self.url_label.setText("The dashboard has stopped")

    def shutdown(self) -> None:
        """Stop publishing and end the dashboard this widget started."""
        self.stop_publishing()
        self.dashboard.stop()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        self.shutdown()
        super().closeEvent(event)
