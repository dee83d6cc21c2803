"""Can Qt start here?  The napari Qt tests ask before they create a QApplication.

Qt loads its platform plugin (``offscreen``, or ``xcb`` for a window under Xvfb) when the
first QApplication is created, and aborts the whole process when the plugin's system
libraries are missing (a fresh Debian lacks ``libxcb-icccm4`` and ``libxcb-keysyms1``;
docs/napari.md lists the packages).  So a child interpreter tries first, and the tests skip
with the reason (naming the missing libraries) outside CI, and fail under ``CI=true``, as the
browser tests do.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
from helpers import IN_CI, child_env

#: The Debian packages the napari Qt tests need beside PySide6 (docs/napari.md, README).
PACKAGES_HINT = ("see docs/napari.md, 'System packages' (apt-get install xvfb xauth "
                 "libxcb-icccm4 libxcb-keysyms1 ...)")
#: Starts a QApplication and exits; prints ``ok`` when it could.
PROBE = ("from qtpy.QtWidgets import QApplication\n"
         "app = QApplication([])\n"
         "print('ok', app.platformName(), flush=True)\n")
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.M)


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason``; under CI, where every Qt test must run, fail with it."""
    if IN_CI:
        pytest.fail(f"the Qt tests must run in CI: {reason}")
    pytest.skip(reason)


def missing_libraries(ldd_output: str) -> list[str]:
    """The sonames ``ldd`` reports as not found, in order, without repeats."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def _plugin_files(platform: str) -> list[Path]:
    """The Qt platform plugin for ``platform`` (and Qt's xcb library) of the installed
    binding, for ``ldd`` to check."""
    found: list[Path] = []
    for binding in ("PySide6", "PyQt6", "PyQt5"):
        spec = find_spec(binding)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(list(spec.submodule_search_locations)[0])
        found += sorted(root.glob(f"**/plugins/platforms/libq{platform}.so"))
        if platform == "xcb":
            found += sorted(root.glob("**/lib/libQt*XcbQpa.so*"))
        if found:
            break
    return found


def _missing_for(platform: str) -> list[str]:
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    missing: list[str] = []
    for path in _plugin_files(platform):
        done = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=30)
        missing += missing_libraries(done.stdout)
    return list(dict.fromkeys(missing))


@functools.cache
def qt_problem(platform: str = "offscreen", *, xvfb: bool = False) -> str | None:
    """Why a QApplication cannot start on ``platform`` here (None when it can).  With
    ``xvfb``, the probe runs under ``xvfb-run`` unless a display is set."""
    env = child_env()
    env["QT_QPA_PLATFORM"] = platform
    command = [sys.executable, "-c", PROBE]
    if xvfb and not os.environ.get("DISPLAY"):
        runner = shutil.which("xvfb-run")
        if runner is None:
            return f"napari's canvas needs a display: no DISPLAY and no xvfb-run; {PACKAGES_HINT}"
        command = [runner, "-a", "-s", "-screen 0 1280x1024x24", *command]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    except subprocess.TimeoutExpired:
        return f"a QApplication on Qt's {platform} platform did not start within 120 s"
    if done.returncode == 0 and done.stdout.startswith("ok"):
        return None
    if "No module named" in done.stderr or "QtBindingsNotFoundError" in done.stderr:
        return "no Qt bindings (install PySide6-Essentials, PyQt5 or PyQt6)"
    missing = _missing_for(platform)
    if missing:
        return (f"Qt's {platform} platform plugin cannot load: missing {', '.join(missing)}; "
                f"{PACKAGES_HINT}")
    last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    return f"a QApplication on Qt's {platform} platform could not start ({last}); {PACKAGES_HINT}"


def require_qt(platform: str = "offscreen", *, xvfb: bool = False) -> None:
    """Skip (fail under CI) unless a QApplication can start on ``platform``."""
    problem = qt_problem(platform, xvfb=xvfb)
    if problem is not None:
        skip_or_fail(problem)
