"""The example notebook, executed by nbclient in a real ipykernel against the demo producer it
starts: every cell succeeds, its outputs load BokehJS and the tile viewer's bundle from a
server of the kernel (no copy of either in the notebook) and hold one server-app embed per
panel, and each embed's server (inside the kernel) serves that panel, updates it while the
producer runs, and refuses websockets from other origins.  Then the panels in Chromium: the
outputs rendered from the notebook's origin (and a visible message for a panel whose server
is gone), and the example notebook as it is in JupyterLab on a free port, with every request
outside 127.0.0.1 refused."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest
from helpers import child_env, jupyter_server, require_jupyterlab, segments_of, wait_until
from nbclient import NotebookClient

from webmon import discover

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "webmon_panels.ipynb"
BUNDLE = ROOT / "webmon" / "dist" / "webmon.js"

JS_MIME = "application/javascript"
LOAD_MIME = "application/vnd.bokehjs_load.v0+json"
EXEC_MIME = "application/vnd.bokehjs_exec.v0+json"
HTML_MIME = "text/html"

#: A model each panel of the example must contain, by name.
PANEL_MARKERS = {
    "loader": "loader-frame-times-figure",
    "tiles": "tiles-viewer",
    "status-streams": "status-streams-table",
}

pytestmark = pytest.mark.slow

# Run in the kernel after the panels were shown: count every change of each panel's
# documents (one per session) from now on.
WATCH = """
from webmon.jupyter import notebook as _wn
_changes = {}
for _name, _server in _wn.shown():
    _changes[_name] = 0
    for _session in _server.get_sessions():
        def _count(event, name=_name):
            _changes[name] += 1
        _session.document.on_change(_count)
"""

REPORT = """
import json as _json
_hub = _wn.KERNEL_HUB.hub
print(_json.dumps({
    "changes": _changes,
    "servers": [[name, server.address, server.port, len(server.get_sessions())]
                for name, server in _wn.shown()],
    "sessions": _hub.session_count if _hub is not None else 0,
    "producers": _hub.names() if _hub is not None else [],
}))
"""

CLOSE = """
_wn.close()
print(_json.dumps({"servers": len(_wn.shown()), "hub": _wn.KERNEL_HUB.hub is not None}))
"""


def _run(client: NotebookClient, nb: Any, source: str) -> dict[str, Any]:
    """Execute ``source`` as a new cell of ``nb`` and return the JSON it printed."""
    cell = nbformat.v4.new_code_cell(source)
    nb.cells.append(cell)
    client.execute_cell(cell, len(nb.cells) - 1)
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")
    return json.loads(text.strip().splitlines()[-1]) if text.strip() else {}


#: Text that is in BokehJS and in the tile viewer's bundle, never in the addresses of them.
BOKEHJS_MARKER = "register_plugin"
TILES_MARKER = "webmon.tiles_extension.tile_viewer"


def _copies_of_bokehjs(text: str) -> int:
    return text.count(BOKEHJS_MARKER) + text.count(TILES_MARKER)


def _shown_name(cell: Any) -> str | None:
    match = re.search(r"""webmon\.show\(\s*["']([^"']+)["']""", cell.source)
    return match.group(1) if match else None


def _embed(outputs: list[Any]) -> tuple[str, str]:
    """The kernel server's address in a panel's autoload script, and the server's id."""
    embeds = [o for o in outputs if EXEC_MIME in o.get("data", {})]
    assert len(embeds) == 1, outputs
    embed = embeds[0]
    server_id = embed["metadata"][EXEC_MIME]["server_id"]  # how Bokeh destroys it on clear
    html = embed["data"][HTML_MIME]
    assert "/autoload.js?" in html and "resources=none" in html
    match = re.search(r"bokeh-absolute-url=(http://[^&\"']+)", html)
    assert match, html
    return match.group(1), server_id


def _connect(url: str) -> Any:
    """Open the panel like a page does: a Bokeh session over the server's websocket."""
    from bokeh.client import pull_session

    import webmon.tiles_extension  # noqa: F401  (the client must know the TileViewer model)

    return pull_session(url=url)


async def _handshake(ws_url: str, origin: str) -> int:
    """HTTP status of a websocket handshake to the kernel's server from ``origin``."""
    from bokeh.util.token import generate_jwt_token, generate_session_id
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    token = generate_jwt_token(generate_session_id())
    request = HTTPRequest(ws_url, headers={"Origin": origin})
    try:
        conn = await websocket_connect(request, subprotocols=["bokeh", token])
    except HTTPClientError as exc:
        return exc.code
    conn.close()
    return 101


def _handshake_status(ws_url: str, origin: str) -> int:
    # A loop of its own: the Bokeh client sessions keep using this thread's current one.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_handshake(ws_url, origin))
    finally:
        loop.close()


def test_example_notebook_shows_three_live_panels(runtime_dir: Path) -> None:
    nb = nbformat.read(EXAMPLE, as_version=4)
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    shows = {i: _shown_name(nb.cells[i]) for i in code if _shown_name(nb.cells[i])}
    assert sorted(shows.values()) == sorted(PANEL_MARKERS)
    client = NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(EXAMPLE.parent)}})
    # The kernel inherits this test's private runtime directory (WEBMON_RUNTIME_DIR).
    with client.setup_kernel(env=child_env()):
        for i in code[:-1]:
            client.execute_cell(nb.cells[i], i)  # raises CellExecutionError if a cell fails
        (token,) = [info.token for info in discover() if info.name == "notebook-demo"]
        assert segments_of(token)

        # The first panel loads BokehJS and the tile viewer's bundle into the page from a
        # server of the kernel: the notebook holds their addresses, not copies.
        first = nb.cells[min(shows)].outputs
        loads = [o for o in first if LOAD_MIME in o.get("data", {})]
        assert len(loads) == 1
        loader = loads[0]["data"][JS_MIME]
        assert "/static/js/bokeh.min.js" in loader
        assert "/static/extensions/webmon/webmon.js?v=" in loader
        assert _copies_of_bokehjs(nbformat.writes(nb)) == 0
        assert len(nbformat.writes(nb)) < 100_000
        # Every panel is one server-app embed; the load happens once per kernel.
        urls, server_ids = {}, {}
        for i, name in shows.items():
            urls[name], server_ids[name] = _embed(nb.cells[i].outputs)
            if i != min(shows):
                assert not any(LOAD_MIME in o.get("data", {}) for o in nb.cells[i].outputs)
        assert len(set(urls.values())) == 3

        # Each embed's server serves its panel (the tile viewer's model included).
        sessions = {name: _connect(url) for name, url in urls.items()}
        try:
            for name, session in sessions.items():
                assert session.document.select_one({"name": PANEL_MARKERS[name]}) is not None
            viewer = sessions["tiles"].document.select_one({"name": "tiles-viewer"})
            assert type(viewer).__name__ == "TileViewer"

            # ... and keeps it updating while the producer runs: count each document's
            # changes while the kernel is idle between cells.
            _run(client, nb, WATCH + "print('{}')")
            report = wait_until(
                lambda: (r := _run(client, nb, REPORT)) and all(
                    r["changes"][name] > 0 for name in PANEL_MARKERS) and r,
                timeout=60, interval=0.5, message="every panel's document changing")
            assert report["producers"] == ["notebook-demo"]
            assert report["sessions"] == 3
            for name, address, port, count in report["servers"]:
                assert address == "127.0.0.1"
                assert count == 1
                assert urls[name] == f"http://localhost:{port}"

            # Only the notebook's origin may open a panel's websocket.
            ws_url = urls["loader"].replace("http://", "ws://") + "/ws"
            assert _handshake_status(ws_url, "http://evil.example") == 403
            assert _handshake_status(ws_url, "http://localhost:8888") == 101

            # Clearing an output makes the page run destroy_server for its server id (Bokeh's
            # classic notebook extension and jupyter_bokeh both do): that panel's sessions
            # close, the others keep going.
            _run(client, nb, "import bokeh.io.notebook as ion\n"
                             f"ion.destroy_server({server_ids['loader']!r})\nprint('{{}}')")
            # (Bokeh 3.9 runs the destroyed session's callbacks at once, 3.10 soon after.)
            report = wait_until(lambda: (r := _run(client, nb, REPORT))["sessions"] == 2 and r,
                                timeout=30, message="the destroyed panel's session closed")
            assert sorted(name for name, *_ in report["servers"]) == ["status-streams", "tiles"]
        finally:
            for session in sessions.values():
                session.close()

        # A page that closes releases its sessions a few seconds later.
        report = wait_until(lambda: (r := _run(client, nb, REPORT))["sessions"] == 0 and r,
                            timeout=30, interval=0.5, message="the sessions released")
        assert report["producers"] == ["notebook-demo"]  # the hub still runs, for a while

        # The last cell stops the producer.
        client.execute_cell(nb.cells[code[-1]], code[-1])
        stops = [o for o in nb.cells[code[-1]].outputs if o["output_type"] == "execute_result"]
        assert stops and stops[0]["data"]["text/plain"] == "0"
        closed = _run(client, nb, CLOSE)
        assert closed == {"servers": 0, "hub": False}

    assert discover() == []
    assert segments_of(token) == set()


# -- in a browser --------------------------------------------------------------------------
BROWSER_PRODUCER = "notebook-browser"


def _panel_cells(origin: str) -> list[Any]:
    """Cells that show two panels of ``BROWSER_PRODUCER`` for a notebook page served from
    ``origin`` (BokehJS comes from the kernel: no internet needed)."""
    return [nbformat.v4.new_code_cell(source) for source in (
        "import webmon, webmon.jupyter",
        f"webmon.show('loader-frame-times', notebook_url={origin!r}, "
        f"producer={BROWSER_PRODUCER!r})",
        f"webmon.show('tiles', notebook_url={origin!r}, producer={BROWSER_PRODUCER!r})",
    )]


class _NotebookPage:
    """Serves, on 127.0.0.1 and a port of its own, a page made of a notebook's outputs in
    order, as the notebook's page holds them: the BokehJS load script, then each panel's
    embed."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.files: dict[str, tuple[str, bytes]] = {}
        files = self.files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's spelling)
                kind, body = files.get(self.path, ("text/plain", b"not found"))
                self.send_response(200 if self.path in files else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, outputs: list[Any]) -> None:
        parts = []
        for index, output in enumerate(outputs):
            data = output.get("data", {})
            if JS_MIME in data:  # the load script, as its own file (it is megabytes of JS)
                self.files[f"/output-{index}.js"] = ("text/javascript",
                                                     data[JS_MIME].encode("utf-8"))
                parts.append(f'<script src="/output-{index}.js"></script>')
            elif HTML_MIME in data:
                parts.append(f"<div>{data[HTML_MIME]}</div>")
        page = ("<!doctype html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
                "</head><body>{}</body></html>")
        self.files["/"] = ("text/html", page.format("\n".join(parts)).encode("utf-8"))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.mark.browser
def test_shown_panels_update_live_in_a_browser(runtime_dir: Path) -> None:
    """The outputs of ``webmon.show`` rendered by Chromium from the notebook's origin: the
    tile viewer draws (its bundle came from the kernel with BokehJS), the panels' data
    changes while the producer runs, pushed by the kernel's servers, and their status lines
    go; a panel whose server is gone says so in its output."""
    from browser_util import chromium_browser, require_chromium

    from webmon.cli import demo_producer

    require_chromium()
    page_server = _NotebookPage()
    origin = f"127.0.0.1:{page_server.port}"
    nb = nbformat.v4.new_notebook()
    nb.cells = _panel_cells(origin)
    client = NotebookClient(nb, timeout=180, kernel_name="python3")
    try:
        with demo_producer(BROWSER_PRODUCER), client.setup_kernel(env=child_env()):
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            page_server.publish([o for cell in nb.cells for o in cell.outputs])
            with chromium_browser() as browser:
                page = browser.new_page(viewport={"width": 1200, "height": 1600})
                errors: list[str] = []
                page.on("console", lambda m: m.type == "error" and errors.append(m.text))
                page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
                page.on("response", lambda r: r.status >= 400 and errors.append(
                    f"{r.status} {r.url}"))
                page.goto(f"http://{origin}/")
                model = ("Bokeh.documents.map(d => d.get_model_by_name({!r}))"
                         ".find(m => m != null)")
                frames, viewer = model.format("loader-frame-times"), model.format("tiles-viewer")
                page.wait_for_function(
                    f"() => window.Bokeh !== undefined && Bokeh.documents.length == 2 && "
                    f"{viewer} != null && Bokeh.index.find_one({viewer})?.frames_drawn > 0 && "
                    f"{frames}?.get_length() > 0", timeout=60_000)
                first = page.evaluate(f"() => {frames}.data.time.at(-1)")
                tiles = page.evaluate(f"() => {viewer}.view_rect")
                # New frames reach the chart, and the camera's tour moves the view rectangle.
                page.wait_for_function(f"() => {frames}.data.time.at(-1) > {first}",
                                       timeout=20_000)
                page.wait_for_function(
                    f"() => JSON.stringify({viewer}.view_rect) != {json.dumps(json.dumps(tiles))}",
                    timeout=30_000)
                assert page.locator("canvas").count() >= 2  # the chart's and the viewer's
                # Drawn panels take their "loading" lines away.
                page.wait_for_function(
                    "() => document.querySelectorAll('.webmon-panel-status').length == 0",
                    timeout=10_000)
                page.close()
                assert errors == [], errors

                # A panel whose server is gone (the kernel stopped it): its output says so.
                gone = nbformat.v4.new_code_cell(
                    f"webmon.show('status-hub', notebook_url={origin!r})\n"
                    "from bokeh.io.notebook import destroy_server\n"
                    "from webmon.jupyter import notebook as _wn\n"
                    "destroy_server(list(_wn._servers)[-1])")
                nb.cells.append(gone)
                client.execute_cell(gone, len(nb.cells) - 1)
                load = [o for o in nb.cells[1].outputs if JS_MIME in o.get("data", {})]
                page_server.publish([*load, *gone.outputs])
                page = browser.new_page()
                page.goto(f"http://{origin}/")
                status = page.locator(".webmon-panel-status")
                status.wait_for(state="visible", timeout=30_000)
                page.wait_for_function(
                    "() => document.querySelector('.webmon-panel-status')?.dataset.failed",
                    timeout=60_000)
                text = status.inner_text()
                assert "cannot reach its server at http://127.0.0.1:" in text, text
                assert "status-hub" in text
                page.close()
    finally:
        page_server.close()


#: Chromium sends every request not to the loopback addresses to a proxy port where nothing
#: listens: the page is offline except for 127.0.0.1 (websockets included).
OFFLINE_ARGS = ["--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>;127.0.0.1"]


@pytest.mark.browser
@pytest.mark.timeout(900)
def test_example_notebook_in_jupyterlab_offline_on_a_free_port(tmp_path: Path,
                                                               runtime_dir: Path) -> None:
    """The example notebook as it is, in JupyterLab on a port chosen by the OS (not 8888),
    in a Chromium that refuses every request outside 127.0.0.1: run every cell but the last
    (which stops the producer); the three panels draw and update with no notebook_url given;
    then the last cell; the saved notebook holds no copy of BokehJS."""
    require_jupyterlab()
    from urllib.parse import urlsplit

    from browser_util import chromium_browser, require_chromium

    require_chromium()
    # JupyterLab's documented switch to expose its app as window.jupyterapp: the test runs
    # JupyterLab's own commands (what its Run menu and Ctrl+S call) without waiting, as a
    # click does, for a page kept busy by three live panels to settle.
    (tmp_path / "config").mkdir(mode=0o700)
    (tmp_path / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"LabApp": {"expose_app_in_browser": True}}))
    # No autosave (every 120 s): the test saves once itself, and a save started while an
    # autosave is still writing finds the file newer than the page's copy, so JupyterLab asks
    # about the conflict instead of saving ("Modal is already displayed", seen under load).
    settings = tmp_path / "config" / "lab" / "user-settings" / "@jupyterlab"
    (settings / "docmanager-extension").mkdir(parents=True)
    (settings / "docmanager-extension" / "plugin.jupyterlab-settings").write_text(
        json.dumps({"autosave": False}))
    with jupyter_server(tmp_path) as jupyter:
        assert jupyter.port != 8888
        plugin = "@jupyterlab/docmanager-extension:plugin"
        with urllib.request.urlopen(f"{jupyter.url}lab/api/settings/{plugin}"
                                    f"?token={jupyter.token}", timeout=30) as response:
            assert json.loads(response.read())["settings"]["autosave"] is False
        saved = tmp_path / "root" / EXAMPLE.name
        saved.write_bytes(EXAMPLE.read_bytes())
        with chromium_browser(extra_args=OFFLINE_ARGS) as browser:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            outside: list[str] = []

            def only_loopback(route: Any) -> None:
                if urlsplit(route.request.url).hostname == "127.0.0.1":
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            context.route("**/*", only_loopback)
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
            page.goto(f"http://127.0.0.1:{jupyter.port}/lab/tree/{EXAMPLE.name}"
                      f"?token={jupyter.token}")
            notebook = "window.jupyterapp?.shell.currentWidget?.content"
            page.wait_for_function(f"() => {notebook}?.widgets?.length > 0", timeout=120_000)
            # JupyterLab may ask which kernel to start, preselecting the notebook's.
            try:
                page.get_by_role("button", name="Select", exact=True).click(timeout=15_000)
            except Exception:  # Playwright's TimeoutError: no question asked
                pass
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=120_000)

            def lab(command: str) -> None:
                page.evaluate(f"() => {{ window.jupyterapp.commands.execute({command!r}); }}")

            # Select the last cell (it stops the producer) and run every cell above it.
            page.evaluate(f"() => {{ const nb = {notebook}; "
                          "nb.activeCellIndex = nb.widgets.length - 1; }")
            lab("notebook:run-all-above")
            model = "Bokeh.documents.map(d => d.get_model_by_name({!r})).find(m => m != null)"
            frames, viewer = model.format("loader-frame-times"), model.format("tiles-viewer")
            streams = model.format(PANEL_MARKERS["status-streams"])
            page.wait_for_function(
                f"() => window.Bokeh !== undefined && {viewer} != null && "
                f"Bokeh.index.find_one({viewer})?.frames_drawn > 0 && "
                f"{frames}?.get_length() > 0 && {streams} != null", polling=1000,
                timeout=180_000)
            first = page.evaluate(f"() => {frames}.data.time.at(-1)")
            # Three live panels in JupyterLab on software WebGL keep the page's main thread
            # busy on a loaded machine: poll once a second, and give it time.
            page.wait_for_function(f"() => {frames}.data.time.at(-1) > {first}",
                                   polling=1000, timeout=120_000)
            page.wait_for_function(
                "() => document.querySelectorAll('.webmon-panel-status').length == 0",
                polling=1000, timeout=60_000)
            # The last cell, still selected, stops the producer (its output: exit status 0).
            lab("notebook:run-cell")
            page.wait_for_function(
                f"() => {{ const nb = {notebook}; const last = nb.widgets[nb.widgets.length - 1];"
                " return JSON.stringify(last.model.outputs.toJSON()).includes('\"0\"'); }",
                polling=1000, timeout=180_000)
            # Save, as Ctrl+S does (the notebook panel's document context), and wait for it.
            page.evaluate("async () => { await window.jupyterapp.shell.currentWidget"
                          ".context.save(); }")
            assert nbformat.read(saved, as_version=4).cells[-1].outputs
            page.close()
        text = saved.read_text("utf-8")
        assert _copies_of_bokehjs(text) == 0
        assert len(text) < 100_000, len(text)
        # Nothing of the panels was asked of the outside world; JupyterLab's own complaints
        # (an offline machine's news check) are not ours.
        assert [url for url in outside if re.search(r"bokeh|webmon", url, re.I)] == []
        ours = [e for e in errors
                if re.search(r"bokeh|webmon|tile|websocket|autoload|uncaught", e, re.I)]
        assert ours == [], errors
