"""The recording and the report keep their layers (docs: DESIGN.md): recording imports the
transport, the schema, pyarrow and pandas, never Bokeh or the server; the report builds its
page with Bokeh from the tabs' server-free pieces, never the server."""

from __future__ import annotations

from helpers import run_python


def test_recording_loads_neither_bokeh_nor_the_server() -> None:
    done = run_python("import sys, webmon.recording, webmon.recording.replay\n"
                      "print(sorted(m for m in sys.modules if m.split('.')[0] in ('bokeh', "
                      "'tornado') or m.startswith(('webmon.server', 'webmon.apps'))))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_report_does_not_load_the_server() -> None:
    done = run_python("import sys, webmon.report, webmon.report.spans\n"
                      "print(sorted(m for m in sys.modules if m.startswith('webmon.server')))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
