"""Screenshots of the dashboard's tabs, taken in a real Chromium with the demo running.

    python tools/screenshots.py [--out docs/screenshots] [--tabs tiles loader] [--settle 8]

Starts ``webmon demo`` (its producer and dashboard) on a free port with a private runtime
directory, opens each tab in headless Chromium (Debian's ``/usr/bin/chromium``, driven by
Playwright, WebGL on SwiftShader), lets it fill for ``--settle`` seconds, and writes
``<out>/<tab>.png``.  Then stops the demo.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--enable-unsafe-swiftshader",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]
URL = re.compile(r"webmon dashboard at (http://\S+)")

#: What each tab must show when its picture is taken (a JS expression), checked after
#: ``--settle``; tabs not listed are taken once settled.  The tiles tab waits for a level
#: of the tour coarse enough (3 or more: at most 32 x 32 tiles) for single tiles to show,
#: with the image's thumbnail under them.
READY = {
    "tiles": "(() => { const m = Bokeh.documents[0].get_model_by_name('tiles-viewer');"
             " const v = m && Bokeh.index.find_one(m);"
             " return v != null && v.frames_drawn > 0 && m.source.get_length() > 0"
             " && m.level >= 3 && m.thumbnail != null; })()",
    # The profile and system tabs fill once their instruments have run a few seconds.
    "profile": "Bokeh.documents[0].get_model_by_name('profile-flame').data.name.length > 20",
    "system": "Bokeh.documents[0].get_model_by_name('system-samples').data.time.length >= 8",
}


class Demo:
    """``webmon demo --port 0`` in a subprocess, its output read by a thread."""

    def __init__(self, runtime: str) -> None:
        env = dict(os.environ, WEBMON_RUNTIME_DIR=runtime)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH"))
                                            if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "webmon.cli", "demo", "--port", "0", "--name", "demo"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, env=env)
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def url(self, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = URL.search("".join(self.output))
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit("webmon demo did not start:\n" + "".join(self.output))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def take(url: str, tabs: list[str], out: Path, settle: float, width: int, height: int) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for tab in tabs:
                page = browser.new_page(viewport={"width": width, "height": height})
                errors: list[str] = []
                page.on("console", lambda m, errors=errors: m.type == "error"
                        and errors.append(m.text))
                page.goto(url + tab)
                page.wait_for_function(
                    "() => window.Bokeh !== undefined && Bokeh.documents.length > 0",
                    timeout=30_000)
                page.wait_for_timeout(settle * 1000)
                if tab in READY:
                    page.wait_for_function(f"() => {READY[tab]}", timeout=120_000,
                                           polling=100)
                path = out / f"{tab}.png"
                page.screenshot(path=str(path))
                page.close()
                print(f"{path}" + (f"  (console errors: {errors})" if errors else ""))
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from webmon.apps import TABS

    names = [tab.name for tab in TABS]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--tabs", nargs="+", choices=names, default=names)
    parser.add_argument("--settle", type=float, default=8.0,
                        help="seconds each tab fills before its picture (default 8)")
    parser.add_argument("--size", default="1400x900", help="viewport, WIDTHxHEIGHT")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="webmon-shots-") as runtime:
        os.chmod(runtime, 0o700)
        demo = Demo(runtime)
        try:
            take(demo.url(), args.tabs, args.out, args.settle, width, height)
        finally:
            demo.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
