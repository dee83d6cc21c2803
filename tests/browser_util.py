"""Helpers for tests that drive a real Chromium against a real Bokeh server.

Chromium is Debian's ``/usr/bin/chromium``, driven by the ``playwright`` package; WebGL runs on
SwiftShader.  Without Chromium the tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from bokeh.application import Application
from bokeh.application.handlers.function import FunctionHandler
from bokeh.document import Document
from bokeh.server.server import Server
from helpers import IN_CI
from tornado.ioloop import IOLoop

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    """Skip (fail under CI) when Chromium or Playwright is missing."""
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed"
    if problem is not None:
        if IN_CI:
            pytest.fail(f"browser tests must run in CI: {problem}")
        pytest.skip(problem)


@contextmanager
def chromium_browser(extra_args: Sequence[str] = ()) -> Iterator[Any]:
    """A headless Chromium with WebGL (SwiftShader), and ``extra_args`` on its command line."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


class BokehServerThread:
    """A Bokeh server on 127.0.0.1 and a free port, with its IOLoop in a thread.

    Mount apps under a path such as ``/tiles_test``, never at ``/``: an app at ``/`` shadows
    ``/static/extensions/`` and the extension's bundle answers 404.
    """

    def __init__(self, apps: dict[str, Callable[[Document], None]]) -> None:
        if "/" in apps:
            raise ValueError("mount apps below /, not at /")
        self._apps = apps
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bokeh-test-server", daemon=True)
        self._loop: IOLoop | None = None
        self._server: Server | None = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        try:
            self._loop = IOLoop.current()
            applications = {
                path: Application(FunctionHandler(make_doc))
                for path, make_doc in self._apps.items()
            }
            self._server = Server(applications, io_loop=self._loop, address="127.0.0.1", port=0)
            self._server.start()
        except BaseException as error:  # reported to the starting thread
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        self._loop.start()

    def start(self) -> BokehServerThread:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError("the Bokeh test server did not start") from self._error
        return self

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.port is not None
        return self._server.port

    def url(self, path: str) -> str:
        # "localhost" because Bokeh allows websocket origins localhost:<port> by default; the
        # server itself listens on 127.0.0.1 only.
        return f"http://localhost:{self.port}{path}"

    def stop(self) -> None:
        if self._loop is None or self._server is None:
            return
        server, loop = self._server, self._loop

        def shutdown() -> None:
            server.stop()
            loop.stop()

        loop.add_callback(shutdown)
        self._thread.join(10)


def open_bokeh_page(page: Any, url: str) -> None:
    """Go to ``url`` and wait until BokehJS has built its document."""
    page.goto(url)
    page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length > 0",
                           timeout=30_000)


def model_value(page: Any, name: str, expression: str) -> Any:
    """``expression`` (JavaScript) evaluated with ``m`` the page's Bokeh model called
    ``name``; None when there is no such model."""
    return page.evaluate(
        "([name, body]) => { const m = Bokeh.documents[0].get_model_by_name(name);"
        " if (m == null) return null; return (new Function('m', 'return ' + body))(m); }",
        [name, expression])


class BokehPage:
    """A Playwright page on a Bokeh document, recording console errors and uncaught
    exceptions, with ways to read and set its models."""

    def __init__(self, browser: Any, width: int = 1400, height: int = 1000) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def open(self, url: str) -> None:
        open_bokeh_page(self.page, url)

    def model(self, name: str, expression: str) -> Any:
        return model_value(self.page, name, expression)

    def column(self, source: str, column: str) -> list[Any]:
        """A column of a data source, as a list (empty when there is no such source)."""
        return self.model(source, f"Array.from(m.data[{column!r}] ?? [])") or []

    def points(self, source: str, x: str = "time", y: str = "value") -> list[tuple[Any, Any]]:
        """``(x, y)`` of every row of ``source``, read in one go (it may stream meanwhile)."""
        pair = self.model(source, f"[Array.from(m.data[{x!r}]), Array.from(m.data[{y!r}])]")
        return list(zip(*pair, strict=True)) if pair else []

    def set(self, name: str, value: Any) -> None:
        """Set a widget's ``value`` as a person would (the change goes to the server)."""
        self.page.evaluate("([name, value]) => { Bokeh.documents[0].get_model_by_name(name)"
                           ".value = value }", [name, value])

    def cells(self) -> list[str]:
        """Text of every data-table cell (Playwright's CSS selectors pierce shadow roots)."""
        return self.page.locator(".slick-cell").all_text_contents()

    def close(self) -> None:
        self.page.close()


def wait_for(page: Any, js_condition: str, timeout_ms: int = 10_000) -> None:
    """Wait until ``js_condition`` (a JS expression) is truthy in the page."""
    page.wait_for_function(js_condition, timeout=timeout_ms)


def next_frames(page: Any, frames: int = 2) -> None:
    """Let the page draw ``frames`` animation frames."""
    page.evaluate(
        """(n) => new Promise((resolve) => {
             const step = (k) => k == 0 ? resolve() : requestAnimationFrame(() => step(k - 1))
             step(n)
           })""",
        frames,
    )


# JavaScript: decode a PNG data URL in the page into its RGBA pixels (Chromium decodes it, so
# the tests need no imaging library).
_DECODE_PNG_JS = """
    const decodePng = async (url) => {
      const image = new Image()
      image.src = url
      await image.decode()
      const canvas = document.createElement("canvas")
      canvas.width = image.width
      canvas.height = image.height
      const ctx = canvas.getContext("2d")
      ctx.drawImage(image, 0, 0)
      return [ctx.getImageData(0, 0, image.width, image.height).data, image.width]
    }
"""


def evaluate_on_png(page: Any, png: bytes, body: str, *args: Any) -> Any:
    """Run the JavaScript statements ``body`` in ``page`` with ``pixels`` (RGBA bytes of the
    PNG), ``width`` and ``args`` in scope, and return what it returns."""
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    return page.evaluate(
        "async ([url, args]) => {" + _DECODE_PNG_JS
        + "const [pixels, width] = await decodePng(url)\n" + body + "}",
        [url, list(args)],
    )


def count_colors(page: Any, png: bytes, colors: dict[str, tuple[int, int, int]],
                 tolerance: int = 10) -> dict[str, int]:
    """How many pixels of a PNG screenshot are within ``tolerance`` of each colour."""
    return evaluate_on_png(page, png, """
        const [colors, tolerance] = args
        const counts = {}
        for (const name of Object.keys(colors)) counts[name] = 0
        for (let i = 0; i < pixels.length; i += 4) {
          for (const [name, [r, g, b]] of Object.entries(colors)) {
            if (Math.abs(pixels[i] - r) <= tolerance
                && Math.abs(pixels[i + 1] - g) <= tolerance
                && Math.abs(pixels[i + 2] - b) <= tolerance) {
              counts[name]++
            }
          }
        }
        return counts
    """, colors, tolerance)


def hex_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16)


def blend(top: str, alpha: float, bottom: str) -> tuple[int, int, int]:
    """``top`` drawn with ``alpha`` over ``bottom``, as the framebuffer blends them."""
    t, b = hex_rgb(top), hex_rgb(bottom)
    return tuple(round(alpha * x + (1 - alpha) * y) for x, y in zip(t, b, strict=True))
