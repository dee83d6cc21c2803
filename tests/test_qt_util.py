"""The napari Qt tests' guard (tests/qt_util.py): what it reports when Qt cannot start, and
that it skips outside CI and fails under CI."""

from __future__ import annotations

import pytest
import qt_util

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
\tlibxcb-icccm.so.4 => not found
"""


def test_missing_libraries_are_read_from_ldd() -> None:
    assert qt_util.missing_libraries(LDD) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert qt_util.missing_libraries("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == []


def test_a_platform_qt_cannot_load_is_reported_with_the_packages_hint() -> None:
    pytest.importorskip("qtpy.QtWidgets")
    problem = qt_util.qt_problem("no-such-platform")
    assert problem is not None and "docs/napari.md" in problem


@pytest.mark.parametrize("in_ci", [False, True])
def test_missing_qt_skips_outside_ci_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch,
                                                     in_ci: bool) -> None:
    monkeypatch.setattr(qt_util, "IN_CI", in_ci)
    expected = pytest.fail.Exception if in_ci else pytest.skip.Exception
    with pytest.raises(expected, match="missing libxcb-icccm.so.4"):
        qt_util.skip_or_fail("Qt's xcb platform plugin cannot load: missing libxcb-icccm.so.4")
