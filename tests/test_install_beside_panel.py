"""Installing webmon into an environment that already has panel (and so Bokeh 3.10): pip
keeps panel's Bokeh, nothing conflicts, and the dashboard's tabs (status, loader, tiles,
timeline, profile, system, explorer) render in Chromium from that environment's ``webmon``.

The environment is made here, as a user's would be: a new venv of this interpreter,
``pip install panel``, then ``pip install`` of this checkout (not editable).  Bokeh 3.10 needs
Python 3.12, so the test runs on 3.12 or newer (CI's second leg); it needs the package
index (or pip's cache), and skips without it outside CI.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from browser_util import chromium_browser, require_chromium
from helpers import IN_CI, wait_until

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1200),  # two pip installs (panel's dependencies, webmon from source)
    pytest.mark.browser,
    pytest.mark.skipif(sys.version_info < (3, 12),
                       reason="panel's Bokeh 3.10 needs Python 3.12 (CI's Python 3.12 leg runs "
                              "this)"),
]

#: What pip prints when it cannot reach the index: skip (outside CI) rather than fail.
OFFLINE = re.compile(r"Could not find a version that satisfies|NewConnectionError|"
                     r"Temporary failure in name resolution|Network is unreachable")
#: A model each tab draws, by name, and what it must hold once the demo runs.
TABS = {
    "status": "(m) => m.get_length() > 0",
    "loader": "(m) => m.get_length() > 0",
    "tiles": "(m) => Bokeh.index.find_one(m)?.frames_drawn > 0",
    "timeline": "(m) => m.get_length() > 0",
    "profile": "(m) => m.get_length() > 0",
    "system": "(m) => m.get_length() > 0",
    "explorer": "(m) => m.get_length() > 0",
}
MODELS = {"status": "status-producers", "loader": "loader-frame-times",
          "tiles": "tiles-viewer", "timeline": "timeline-spans", "profile": "profile-flame",
          "system": "system-samples", "explorer": "explorer-streams"}


def clean_env() -> dict[str, str]:
    """This environment without PYTHONPATH: the new environment must use its own webmon."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def pip(venv: Path, *args: str) -> str:
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check",
                           *args], capture_output=True, text=True, timeout=900, cwd=venv,
                          env=clean_env())
    output = done.stdout + done.stderr
    if done.returncode != 0:
        if OFFLINE.search(output) and not IN_CI:
            pytest.skip(f"the package index cannot be reached: pip {' '.join(args)}")
        raise AssertionError(f"pip {' '.join(args)} failed:\n{output[-4000:]}")
    return output


def installed(venv: Path, code: str) -> str:
    done = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                          text=True, timeout=300, cwd=venv, env=clean_env())
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_webmon_installs_beside_panel_and_its_tabs_render(tmp_path: Path,
                                                          runtime_dir: Path) -> None:
    require_chromium()
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip(venv, "install", "panel")
    before = installed(venv, "import bokeh, panel; print(bokeh.__version__, panel.__version__)")
    bokeh_version = before.split()[0]
    assert bokeh_version.startswith("3.10."), before

    pip(venv, "install", str(ROOT))
    after = installed(venv, "import bokeh, panel, webmon; print(bokeh.__version__, "
                            "panel.__version__, webmon.__file__)")
    assert after.split()[:2] == before.split(), (before, after)  # pip kept panel's Bokeh
    assert after.split()[2].startswith(str(venv))  # the installed webmon, not this checkout
    pip(venv, "check")

    demo = subprocess.Popen([str(venv / "bin" / "webmon"), "demo", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=clean_env(), cwd=tmp_path, stdin=subprocess.DEVNULL)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout), daemon=True)
    reader.start()
    try:
        def address() -> str | None:
            match = re.search(r"webmon dashboard at (http://\S+)", "".join(lines))
            assert match or demo.poll() is None, "".join(lines)
            return match.group(1) if match else None

        url = wait_until(address, timeout=120, message="the dashboard's address")
        with chromium_browser() as browser:
            for tab, drawn in TABS.items():
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                errors: list[str] = []
                page.on("console", lambda m, errors=errors: m.type == "error"
                        and errors.append(m.text))
                page.on("pageerror", lambda e, errors=errors: errors.append(f"uncaught: {e}"))
                page.goto(url.rstrip("/") + "/" + tab)
                model = (f"Bokeh.documents.map(d => d.get_model_by_name({MODELS[tab]!r}))"
                         ".find(m => m != null)")
                page.wait_for_function(
                    f"() => window.Bokeh !== undefined && {model} != null && "
                    f"({drawn})({model})", timeout=90_000)
                page.close()
                assert errors == [], (tab, errors)
    finally:
        demo.terminate()
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        reader.join(5)
