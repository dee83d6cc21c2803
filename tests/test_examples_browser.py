"""The two examples of watching any program, end to end in a real Chromium:
``examples/any_app.py`` (a plain numpy training loop) shown by the explorer with no other
code, and ``examples/training_tab`` (a package adding a tab) pip-installed into a virtual
environment of its own, whose ``webmon dashboard`` shows the tab.

The environment sees this interpreter's packages (a ``.pth`` file adds its site
directories) and gets only the example package installed; pip builds it in isolation, so it
needs an index to fetch setuptools from.  Skipped without Chromium, or when pip cannot build
(no index reachable), except under ``CI=true``, where both fail.
"""

from __future__ import annotations

import json
import os
import re
import signal
import site
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_util import chromium_browser, model_value, open_bokeh_page
from helpers import IN_CI, ROOT, child_env, stop_process, wait_until

from webmon.apps import TABS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PRODUCER = "trainer"


def make_venv(path: Path) -> Path:
    """A virtual environment at ``path`` that also sees this interpreter's packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip()
    # addsitedir, not a bare path: the parent's own .pth files (editable installs) apply too.
    parents = [p for p in site.getsitepackages() if os.path.isdir(p)]
    Path(purelib, "_webmon_test_parent.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in parents))
    return python


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = make_venv(tmp_path_factory.mktemp("venv") / "env")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-input", "--disable-pip-version-check", str(ROOT / "examples" / "training_tab")],
        capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        message = f"pip could not install examples/training_tab:\n{result.stdout}{result.stderr}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return python


class Dashboard:
    """``webmon dashboard`` run by another interpreter, its output read by a thread."""

    def __init__(self, python: Path) -> None:
        self.proc = subprocess.Popen(
            [str(python), "-m", "webmon.cli", "dashboard", "--port", "0", "--interval",
             "100ms"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=child_env(), stdin=subprocess.DEVNULL)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True
                         ).start()

    def url(self) -> str:
        def found() -> str | None:
            match = re.search(r"webmon dashboard at (http://\S+)", "".join(self.lines))
            if match is None and self.proc.poll() is not None:
                raise AssertionError("webmon exited:\n" + "".join(self.lines))
            return match.group(1) if match else None

        return wait_until(found, 60, message="the dashboard's address").replace(
            "127.0.0.1", "localhost")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture
def training() -> Iterator[subprocess.Popen]:
    """examples/any_app.py, run as its README says."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "any_app.py"), "--name", PRODUCER,
         "--steps-per-second", "100"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        assert "publishing as" in proc.stdout.readline()
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the program closes its Publisher
        stop_process(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as launched:
        yield launched


def test_the_example_program_and_the_example_tab_package(venv_python: Path, training: Any,
                                                         browser: Any) -> None:
    dashboard = Dashboard(venv_python)
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        url = dashboard.url()
        # The program, in the explorer, with no code of its own: its loss, with its unit.
        open_bokeh_page(page, url + "explorer")
        wait_until(lambda: model_value(page, "explorer-field-0", "m.tags[0]") == "batches.loss",
                   timeout=30, interval=0.2, message="the loss chosen by default")
        assert model_value(page, "explorer-field-0-figure", "m.title.text").startswith(
            "batches · loss (nats)")
        wait_until(lambda: model_value(page, "explorer-field-0", "m.get_length()") > 50,
                   timeout=30, interval=0.2, message="losses plotted")
        wait_until(lambda: "first_layer" in (model_value(page, "explorer-arrays",
                                                    "Array.from(m.data.name)") or []),
                   timeout=30, interval=0.2, message="the shared weights listed")
        shapes = model_value(page, "explorer-arrays", "Array.from(m.data.shape)")
        assert "64 × 128" in shapes and "32" in shapes

        # The package's tab, in the navigation after webmon's own: follow the link.
        links = [t.strip() for t in page.locator(".webmon-tabs a").all_text_contents()]
        assert links == [tab.title for tab in TABS] + ["Training"]
        page.locator(".webmon-tabs a", has_text="Training").click()
        page.wait_for_url(re.compile(r".*/training"))
        page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length",
                               timeout=30_000)
        newest = "m.get_length() ? m.data.time[m.get_length() - 1] : 0"
        first = wait_until(lambda: model_value(page, "training-loss", newest), timeout=30,
                           interval=0.2, message="the loss in the package's tab")
        wait_until(lambda: model_value(page, "training-loss", newest) > first, timeout=30,
                   interval=0.2, message="newer losses arriving")
        wait_until(lambda: "0.02" in (model_value(page, "training-rate-now", "m.text") or ""),
                   timeout=20, interval=0.2)
        # Its control sends the program's command, which changes what the program does.
        page.evaluate("() => { Bokeh.documents[0].get_model_by_name('training-rate-value')"
                      ".value = 0.5 }")
        page.get_by_role("button", name="Set").click()
        wait_until(lambda: (model_value(page, "training-rate-reply", "m.text") or "")
                   .startswith("Done"), timeout=20, interval=0.2, message="the command's reply")
        wait_until(lambda: "<b>0.5</b>" in (model_value(page, "training-rate-now", "m.text") or ""),
                   timeout=20, interval=0.2, message="the new rate published")

        with urllib.request.urlopen(url + "individual-plots.json") as response:
            plots = json.load(response)
        assert plots["Individual Training Loss"] == "/individual-training-loss"
        shown = subprocess.run([str(venv_python), "-c", "import webmon; print(webmon.panels())"],
                               capture_output=True, text=True, env=child_env(), check=True)
        assert "'training'" in shown.stdout and "'training-loss'" in shown.stdout
        assert errors == []
    finally:
        page.close()
        dashboard.stop()
