"""The napari plugin: its npe2 manifest, the dashboard launcher and the dock widget."""

from __future__ import annotations

import os
import sys
import threading
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest
from helpers import segments_of, wait_until
from qt_util import require_qt

from webmon import Subscriber, discover
from webmon.napari.dashboard import DashboardProcess, find_url

MANIFEST = Path(__file__).resolve().parent.parent / "webmon" / "napari" / "napari.yaml"
#: Stands in for ``webmon dashboard`` where only the launcher's handling is under test.
FAKE_DASHBOARD = [sys.executable, "-c",
                  "import time; print('starting', flush=True); "
                  "print('webmon dashboard at http://127.0.0.1:4321/status.', flush=True); "
                  "time.sleep(120)"]


def qt_app() -> Any:
    """A QApplication (offscreen unless a platform is set); skip saying why when Qt cannot
    start here (fail under CI)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    require_qt(os.environ["QT_QPA_PLATFORM"])
    from qtpy.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


# -- manifest -------------------------------------------------------------------------------

def test_manifest_validates_and_contributes_the_dock_widget() -> None:
    npe2 = pytest.importorskip("npe2")
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    assert manifest.name == "webmon"
    (widget,) = manifest.contributions.widgets
    (command,) = [c for c in manifest.contributions.commands if c.id == widget.command]
    assert command.python_name == "webmon.napari.widget:WebmonWidget"
    if _has_qt():  # importing the widget's module needs Qt bindings
        manifest.validate_imports()


def _has_qt() -> bool:
    try:
        import qtpy.QtWidgets  # noqa: F401
    except Exception:
        return False
    return True


# -- dashboard launcher ---------------------------------------------------------------------

def test_find_url_takes_the_first_http_url() -> None:
    assert find_url("webmon dashboard at http://127.0.0.1:8790/status") == (
        "http://127.0.0.1:8790/status")
    assert find_url("at http://127.0.0.1:1/, also http://x/") == "http://127.0.0.1:1/"
    assert find_url("see (http://127.0.0.1:5/status).") == "http://127.0.0.1:5/status"
    assert find_url("no address yet") is None


def test_launcher_reads_the_url_and_stops_the_process() -> None:
    found: list[str] = []
    ended = threading.Event()
    dash = DashboardProcess(FAKE_DASHBOARD, on_url=found.append, on_exit=ended.set)
    dash.start()
    try:
        assert dash.wait_url(20) == "http://127.0.0.1:4321/status"
        assert found == ["http://127.0.0.1:4321/status"] and dash.running
        assert list(dash.output)[:1] == ["starting"]
    finally:
        proc = dash.proc
        dash.stop()
    assert proc.poll() is not None and not dash.running and ended.wait(5)


def test_launcher_reports_a_dashboard_that_exits_without_an_address() -> None:
    dash = DashboardProcess([sys.executable, "-c", "print('port in use'); raise SystemExit(1)"])
    dash.start()
    assert dash.wait_url(20) is None and list(dash.output) == ["port in use"]
    dash.stop()


def test_launcher_starts_the_real_dashboard() -> None:
    pytest.importorskip("bokeh")
    dash = DashboardProcess()
    dash.start()
    try:
        url = dash.wait_url(90)
        assert url is not None, "\n".join(dash.output)
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
    finally:
        dash.stop()


# -- dock widget ----------------------------------------------------------------------------

def test_widget_starts_and_stops_publishing_and_opens_the_dashboard() -> None:
    pytest.importorskip("napari")
    app = qt_app()
    from napari.components import ViewerModel
    from napari.utils._proxies import PublicOnlyProxy
    from producers.napari_viewer import dask_pyramid

    from webmon.napari.compat import grid
    from webmon.napari.widget import WebmonWidget

    viewer = ViewerModel()
    viewer.add_image(dask_pyramid(4096), multiscale=True, contrast_limits=(0, 255))
    opened: list[str] = []
    # napari gives dock widgets a proxy that warns on private attribute access.
    proxy = PublicOnlyProxy(viewer)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        widget = WebmonWidget(proxy, dashboard_command=FAKE_DASHBOARD, open_url=opened.append)
        widget.name_edit.setText("napari-widget")
        widget.publish_button.click()
    try:
        assert widget.viewer is viewer
        assert widget.publishing and widget.publish_button.text() == "Stop publishing"
        (token,) = [info.token for info in discover() if info.name == "napari-widget"]
        assert segments_of(token)

        # With Qt running, commands are served by the attachment's timer.
        sub = Subscriber("napari-widget")
        result: dict[str, Any] = {}
        caller = threading.Thread(
            target=lambda: result.update(value=sub.call("show_grid", visible=True, timeout=5)))
        caller.start()
        wait_until(lambda: not caller.is_alive(), interval=0.005, each=app.processEvents,
                   message="the command answered")
        assert result["value"] == {"grid_visible": True} and grid(viewer).enabled
        sub.close()

        widget.publish_button.click()
        assert not widget.publishing and widget.status_label.text() == "Not publishing"
        assert "napari-widget" not in [info.name for info in discover()]
        assert segments_of(token) == set()

        widget.dashboard_button.click()  # also starts publishing again
        assert widget.publishing
        (token,) = [info.token for info in discover() if info.name == "napari-widget"]
        wait_until(lambda: opened, timeout=20, interval=0.005, each=app.processEvents,
                   message=lambda: "the dashboard opened; its output:\n"
                   + "\n".join(widget.dashboard.output))
        assert opened == ["http://127.0.0.1:4321/status"]
        assert "http://127.0.0.1:4321/status" in widget.url_label.text()
        widget.dashboard_button.click()  # running: opens the same address again
        assert opened == ["http://127.0.0.1:4321/status"] * 2
    finally:
        proc = widget.dashboard.proc
        widget.shutdown()
        widget.deleteLater()
        app.processEvents()
    assert proc is not None and proc.poll() is not None
    assert not widget.publishing
    assert segments_of(token) == set()


def _dask_viewer(size: int = 4096) -> Any:
    from napari.components import ViewerModel
    from producers.napari_viewer import dask_pyramid

    viewer = ViewerModel()
    viewer.add_image(dask_pyramid(size), multiscale=True, contrast_limits=(0, 255))
    return viewer


def _producers() -> list[str]:
    return sorted(info.name for info in discover())


def test_widget_shows_and_controls_an_attachment_made_by_attach() -> None:
    pytest.importorskip("napari")
    app = qt_app()
    from napari.utils._proxies import PublicOnlyProxy

    from webmon.napari import attach, detach
    from webmon.napari.widget import WebmonWidget

    viewer = _dask_viewer()
    scripted = attach(viewer, "scripted")
    widget = WebmonWidget(PublicOnlyProxy(viewer), dashboard_command=FAKE_DASHBOARD,
                          open_url=lambda url: None)
    try:
        # Shown as publishing, by the attachment attach() made.
        assert widget.publishing and widget.attachment is scripted
        assert widget.publish_button.text() == "Stop publishing"
        assert widget.status_label.text() == (
            f"Publishing as 'scripted' (pid {os.getpid()}, attached by webmon.napari.attach())")
        assert widget.name_edit.text() == "scripted" and not widget.name_edit.isEnabled()
        # Publishing again, or opening the dashboard, adds no second producer.
        widget.start_publishing()
        widget.dashboard_button.click()
        assert _producers() == ["scripted"] and widget.attachment is scripted

        # "Stop publishing" stops that attachment...
        widget.publish_button.click()
        assert scripted.closed and _producers() == [] and not widget.publishing
        assert widget.status_label.text() == "Not publishing"
        # ... and "Start publishing" publishes the viewer again, once, under that name.
        widget.publish_button.click()
        assert _producers() == ["scripted"] and widget.attachment is not scripted
        assert widget.status_label.text() == f"Publishing as 'scripted' (pid {os.getpid()})"

        # Detached or attached elsewhere (napari's console): the widget follows.
        detach(viewer)
        wait_until(lambda: widget.status_label.text() == "Not publishing", interval=0.005,
                   each=app.processEvents, message="the widget showing the detach")
        late = attach(viewer, "late")
        wait_until(lambda: widget.attachment is late, interval=0.005, each=app.processEvents,
                   message="the widget showing the new attachment")
        assert "'late'" in widget.status_label.text() and _producers() == ["late"]

        # Closing the widget leaves an attachment it did not make publishing.
        widget.shutdown()
        assert not late.closed and _producers() == ["late"]
    finally:
        widget.shutdown()
        detach(viewer)
        widget.deleteLater()
        app.processEvents()
    assert _producers() == []


def _contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours."""
    def luminance(rgb: tuple[int, int, int]) -> float:
        linear = [(c / 255) / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4
                  for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _link_contrast(widget: Any, label: Any) -> float:
    """Contrast between the label's background and its link text as the widget draws them
    (the part of the label after "Dashboard: "): the most common pixel is the background,
    the pixel farthest from it a glyph's core."""
    from collections import Counter

    skip = label.contentsRect().left() + label.fontMetrics().horizontalAdvance("Dashboard: ")
    image = widget.grab(label.geometry().adjusted(skip + 1, 0, 0, 0)).toImage()
    pixels = [image.pixelColor(x, y).getRgb()[:3]
              for y in range(image.height()) for x in range(image.width())]
    background = Counter(pixels).most_common(1)[0][0]
    text = max(pixels, key=lambda p: sum(abs(c - d) for c, d in zip(p, background, strict=True)))
    return _contrast(background, text)


def test_widget_link_reads_in_napari_dark_and_light_themes_on_one_line() -> None:
    pytest.importorskip("napari")
    app = qt_app()
    from napari.qt import get_stylesheet

    from webmon.napari.widget import WebmonWidget

    viewer = _dask_viewer(1024)
    widget = WebmonWidget(viewer, dashboard_command=FAKE_DASHBOARD, open_url=lambda url: None)
    try:
        widget.resize(260, 300)  # a narrow dock
        widget.dashboard_button.click()
        wait_until(lambda: "4321" in widget.url_label.text(), timeout=20, interval=0.005,
                   each=app.processEvents, message="the dashboard's link")
        contrasts = {}
        for theme in ("dark", "light"):
            viewer.theme = theme  # napari styles its window; the widget's link follows
            widget.setStyleSheet(get_stylesheet(theme))
            widget.show()
            app.processEvents()
            assert not widget.url_label.wordWrap()
            # One line: no taller than one line of its font.
            assert widget.url_label.sizeHint().height() < 2 * widget.url_label.fontMetrics(
            ).height()
            contrasts[theme] = _link_contrast(widget, widget.url_label)
        assert min(contrasts.values()) >= 4.5, contrasts  # WCAG AA for text
    finally:
        widget.shutdown()
        widget.deleteLater()
        app.processEvents()
