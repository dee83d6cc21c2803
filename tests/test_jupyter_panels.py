"""Notebook panels without a notebook: the panel names, the error for an unknown one, the
JupyterHub ``notebook_url``, the tile viewer's bundle in the notebook load, the kernel's hub,
and ``import webmon`` staying free of Bokeh."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bokeh.document import Document
from bokeh.models import Div
from helpers import child_env, jupyter_server, wait_until_async
from tornado.ioloop import IOLoop

import webmon
from webmon.apps import TABS
from webmon.jupyter import embed, notebook
from webmon.jupyter.catalog import (
    UnknownPanelError,
    build_panel_document,
    find_panel,
    panel_table,
    panels,
)
from webmon.jupyter.jupyter_servers import (
    JupyterServerInfo,
    find_jupyter_server,
    parse_server_info,
    running_servers,
    server_of_this_kernel,
)
from webmon.jupyter.kernel_hub import KernelHub
from webmon.jupyter.notebook_url import (
    DEFAULT_NOTEBOOK_URL,
    JupyterHubAddressError,
    jupyterhub_proxy_url,
    panel_address,
    resolve_notebook_url,
)
from webmon.server import Hub, Tab

BUNDLE = Path(__file__).resolve().parent.parent / "webmon" / "dist" / "webmon.js"
HUB_ENV = {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"}


# -- names -------------------------------------------------------------------------------
def test_panels_are_every_tab_and_every_component_sorted() -> None:
    names = panels()
    assert names == sorted(names)
    assert len(names) == len(set(names))
    expected = {tab.name for tab in TABS} | {c for tab in TABS for c in tab.components}
    assert set(names) == expected
    assert {"status", "loader", "tiles", "loader-frame-times", "status-streams"} <= set(names)
    assert webmon.panels() == names


def test_a_tab_wins_over_a_component_of_the_same_name() -> None:
    table = panel_table(TABS)
    assert table["tiles"].kind == "tab"  # the tiles tab is its one "tiles" component
    assert table["loader"].kind == "tab"
    assert table["loader-frame-times"].kind == "component"
    assert table["loader-frame-times"].title == "Loader Frame Times"


def test_duplicate_tab_names_are_refused() -> None:
    tab = Tab(name="same", title="Same", build=lambda session: Div())
    with pytest.raises(ValueError, match="claim /same"):
        panel_table([tab, tab])


@pytest.mark.parametrize("name", ["loder", "", "individual-loader-frame-times", 3])
def test_unknown_names_raise_a_value_error_listing_every_panel(name: Any) -> None:
    with pytest.raises(UnknownPanelError) as caught:
        find_panel(name)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert repr(name) in message
    for valid in panels():
        assert valid in message
    assert caught.value.valid == panels()


def test_show_checks_the_name_before_anything_else() -> None:
    with pytest.raises(UnknownPanelError, match="the panels are: explorer, .*, loader, "):
        webmon.show("nope")


def test_show_outside_a_notebook_says_what_to_do() -> None:
    with pytest.raises(RuntimeError, match="webmon dashboard"):
        webmon.show("loader")


def test_import_webmon_does_not_import_bokeh() -> None:
    code = ("import sys, webmon, webmon.jupyter\n"
            "assert 'bokeh' not in sys.modules and 'tornado' not in sys.modules\n"
            "assert 'show' in dir(webmon) and 'panels' in webmon.__all__\n"
            "print(len(webmon.panels()), callable(webmon.show), 'bokeh' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=child_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(len(panels())), "True", "True"]
    with pytest.raises(AttributeError):
        webmon.no_such_thing  # noqa: B018


# -- panel documents ---------------------------------------------------------------------
@pytest.mark.parametrize("name", panels())
def test_every_panel_builds_one_root_and_closes_with_its_session(name: str) -> None:
    hub = Hub(interval=0.1)
    closed: list[bool] = []
    doc = Document()
    session = build_panel_document(hub, find_panel(name), "someone", doc,
                                   on_close=lambda: closed.append(True))
    assert len(doc.roots) == 1
    assert str(session.chosen) == "someone"
    assert hub.session_count == 1
    assert doc.title.startswith("webmon · ")
    for callback in list(doc.session_destroyed_callbacks):
        callback(None)
    assert session.closed and closed == [True]
    assert hub.session_count == 0
    hub.stop()


def test_a_panel_document_outliving_its_server_unserved_closes() -> None:
    """Bokeh 3.10 builds a new session's document in a worker thread; a server stopped
    meanwhile (a cleared output) cancels the session without destroying the document, which
    is never served.  Its panel session closes at the first tick after the server stopped."""
    hub = Hub(interval=0.1)
    running = [True]
    closed: list[bool] = []
    doc = Document()
    session = build_panel_document(hub, find_panel("loader"), None, doc,
                                   on_close=lambda: closed.append(True),
                                   server_running=lambda: running[0])
    try:
        hub.tick()
        assert not session.closed and hub.session_count == 1
        running[0] = False
        hub.tick()
        assert session.closed and closed == [True] and hub.session_count == 0
        hub.tick()
        assert closed == [True]  # on_close runs once
    finally:
        hub.stop()


# -- notebook_url --------------------------------------------------------------------------
def test_outside_jupyterhub_notebook_url_keeps_bokehs_meaning() -> None:
    assert resolve_notebook_url(None, {}) == DEFAULT_NOTEBOOK_URL == "localhost:8888"
    assert resolve_notebook_url("127.0.0.1:9999", {}) == "127.0.0.1:9999"

    def mine(port: int | None) -> str:
        return "x"

    assert resolve_notebook_url(mine, HUB_ENV) is mine


def test_jupyterhub_routes_the_kernel_port_through_the_server_proxy() -> None:
    env = {**HUB_ENV, "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/user/alice/"}
    url = resolve_notebook_url(None, env)
    assert callable(url)
    assert url(None) == "hub.example.org"  # the only origin allowed on the websocket
    assert url(40123) == "https://hub.example.org/user/alice/proxy/40123/"


def test_jupyterhub_with_subdomains_uses_the_hub_host() -> None:
    env = {"JUPYTERHUB_SERVICE_PREFIX": "/user/bob/", "JUPYTERHUB_PUBLIC_URL": "",
           "JUPYTERHUB_HOST": "https://bob.hub.example.org:8443"}
    url = resolve_notebook_url(None, env)
    assert url(None) == "bob.hub.example.org:8443"
    assert url(5) == "https://bob.hub.example.org:8443/user/bob/proxy/5/"


def test_jupyterhub_public_address_can_be_given() -> None:
    url = resolve_notebook_url("hub.example.org", {"JUPYTERHUB_SERVICE_PREFIX": "/hub-base/user/a"})
    assert url(None) == "hub.example.org"
    assert url(7) == "https://hub.example.org/hub-base/user/a/proxy/7/"
    assert jupyterhub_proxy_url("http://h:8000", "/")(8) == "http://h:8000/proxy/8/"


def test_jupyterhub_without_a_known_address_asks_for_it() -> None:
    with pytest.raises(JupyterHubAddressError, match="notebook_url=") as caught:
        resolve_notebook_url(None, HUB_ENV)
    assert isinstance(caught.value, ValueError)


def test_bokehs_own_jupyterhub_variable_routes_through_the_proxy_as_bokeh_does() -> None:
    env = {**HUB_ENV, "JUPYTER_BOKEH_EXTERNAL_URL": "https://hub.example.org"}
    url = resolve_notebook_url("ignored:1", env)
    assert url(None) == "hub.example.org"
    assert url(5) == "https://hub.example.org/user/alice/proxy/5/"


# -- the Jupyter server of this kernel -----------------------------------------------------
SERVER = {"base_url": "/", "hostname": "localhost", "password": False, "pid": 4242,
          "port": 8899, "root_dir": "/tmp", "secure": False, "sock": "", "token": "t",
          "url": "http://localhost:8899/", "version": "2.14.0"}


def test_a_jupyter_server_file_is_read() -> None:
    import json

    info = parse_server_info(json.dumps(SERVER))
    assert info == JupyterServerInfo(4242, 8899, "localhost", "/", False)
    assert info.origins == ("localhost:8899", "127.0.0.1:8899")
    bound_everywhere = parse_server_info(json.dumps({**SERVER, "hostname": "0.0.0.0"}))
    assert bound_everywhere.origins == ("localhost:8899", "127.0.0.1:8899")


@pytest.mark.parametrize("text", [
    "", "{", "[]", "null", '"x"', '{"pid": 1}', '{"port": 8888}',
    '{"pid": "1", "port": 8888}', '{"pid": 1, "port": "8888"}', '{"pid": 1, "port": 0}',
    '{"pid": 1, "port": 70000}', '{"pid": -3, "port": 8888}', '{"pid": true, "port": 8888}',
    '{"pid": 1, "port": 8888, "hostname": 5}', '{"pid": 1, "port": 8888, "base_url": []}',
    '{"pid": 1, "port": 8888.0}',
])
def test_malformed_jupyter_server_files_are_skipped(text: str) -> None:
    assert parse_server_info(text) is None


def test_the_server_whose_pid_started_the_kernel_is_chosen(tmp_path: Path) -> None:
    import json

    (tmp_path / "jpserver-1.json").write_text(json.dumps({**SERVER, "pid": 1, "port": 9001}))
    (tmp_path / "jpserver-2.json").write_text(json.dumps({**SERVER, "pid": 2, "port": 9002}))
    (tmp_path / "nbserver-3.json").write_text(json.dumps({**SERVER, "pid": 3, "port": 9003}))
    (tmp_path / "jpserver-4.json").write_text("not json")
    (tmp_path / "jpserver-5.json").write_bytes(b"\xff\xfe")
    (tmp_path / "jpserver-6.json").write_text(" " * (70 * 1024))  # oversized
    servers = running_servers(tmp_path)
    assert sorted(s.port for s in servers) == [9001, 9002, 9003]
    assert server_of_this_kernel(servers, [3, 2]).port == 9003
    assert server_of_this_kernel(servers, [7]) is None
    assert running_servers(tmp_path / "missing") == []
    env = {"JUPYTER_RUNTIME_DIR": str(tmp_path), "JPY_PARENT_PID": "2"}
    assert find_jupyter_server(env).port == 9002
    assert find_jupyter_server({**env, "JPY_PARENT_PID": "x"}) is None  # not our parent


def test_without_notebook_url_the_kernels_jupyter_server_gives_the_address() -> None:
    server = JupyterServerInfo(4242, 8899, "localhost", "/", False)
    address = panel_address(None, {}, jupyter_server=server)
    assert address.origins == ("localhost:8899", "127.0.0.1:8899")
    assert address.url(40123) == "http://127.0.0.1:40123"
    assert "8899" in address.found
    # A notebook_url given, or JupyterHub, wins over the local server.
    given = panel_address("127.0.0.1:9999", {}, jupyter_server=server)
    assert given.origins == ("127.0.0.1:9999",) and given.url(5) == "http://127.0.0.1:5"
    hub = panel_address(None, {**HUB_ENV, "JUPYTERHUB_PUBLIC_URL": "https://h.org"},
                        jupyter_server=server)
    assert hub.origins == ("h.org",) and hub.url(5) == "https://h.org/user/alice/proxy/5/"


def test_without_a_jupyter_server_the_address_is_bokehs_default(tmp_path: Path) -> None:
    address = panel_address(None, {"JUPYTER_RUNTIME_DIR": str(tmp_path)})
    assert address.origins == (DEFAULT_NOTEBOOK_URL,)
    assert address.url(7) == "http://localhost:7"
    https = panel_address("https://nb.example.org:8443", {})
    assert https.origins == ("nb.example.org:8443",) and https.url(7) == "https://nb.example.org:7"


async def handshake(ws_url: str, origin: str) -> int:
    """HTTP status of a Bokeh websocket handshake sent with ``origin`` (101 = accepted)."""
    from bokeh.util.token import generate_jwt_token, generate_session_id
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    token = generate_jwt_token(generate_session_id())
    try:
        conn = await websocket_connect(HTTPRequest(ws_url, headers={"Origin": origin}),
                                       subprotocols=["bokeh", token])
    except HTTPClientError as exc:
        return exc.code
    conn.close()
    return 101


def test_a_panel_server_takes_websockets_from_the_pages_origins_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``embed.show_server_app`` for an address with two origins (a local Jupyter server)
    and for JupyterHub's: the embed points at the address's URL, the server listens on
    127.0.0.1 and its websocket takes only the address's origins."""
    from bokeh.io.notebook import destroy_server
    from bokeh.io.state import curstate

    published: list[tuple[dict[str, Any], dict[str, Any]]] = []
    monkeypatch.setattr(embed, "publish", lambda data, metadata=None: published.append(
        (data, metadata)))
    local = panel_address(None, {}, jupyter_server=JupyterServerInfo(1, 8899, "localhost",
                                                                     "/", False))
    hub = panel_address(None, {**HUB_ENV, "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/"})

    async def scenario(address: Any, origins: list[str]) -> tuple[str, str, list[int]]:
        from tornado.ioloop import IOLoop

        server_id = embed.show_server_app("probe", lambda doc: doc.add_root(Div(text="x")),
                                          address, IOLoop.current())
        server = curstate().uuid_to_server[server_id]
        try:
            ws = f"ws://127.0.0.1:{server.port}/ws"
            return (server.address, address.url(server.port),
                    [await handshake(ws, origin) for origin in origins])
        finally:
            destroy_server(server_id)

    loop = asyncio.new_event_loop()
    try:
        bound, url, codes = loop.run_until_complete(scenario(
            local, ["http://localhost:8899", "http://127.0.0.1:8899", "http://localhost:8888",
                    "http://evil.example"]))
        assert (bound, codes) == ("127.0.0.1", [101, 101, 403, 403])
        data, metadata = published[-1]
        server_id = metadata[embed.EXEC_MIME]["server_id"]
        assert server_id not in curstate().uuid_to_server  # destroyed
        html = data[embed.HTML_MIME]
        assert html.startswith("<script") and f"bokeh-absolute-url={url}" in html
        assert "resources=none" in html and "webmon-panel-status" in html
        bound, url, codes = loop.run_until_complete(scenario(
            hub, ["https://hub.example.org", "http://localhost:8888"]))
        assert (bound, codes) == ("127.0.0.1", [101, 403])
        assert url.startswith("https://hub.example.org/user/alice/proxy/")
    finally:
        loop.close()


def test_the_status_line_escapes_and_names_the_address() -> None:
    address = panel_address("127.0.0.1:9999", {})
    text = embed.status_html("<b>x</b>", "http://127.0.0.1:5", address)
    assert "<b>x</b>" not in text.split("<script>")[0]  # the visible text is escaped
    assert "&lt;b&gt;x&lt;/b&gt;" in text
    assert "cannot reach its server at http://127.0.0.1:5" in text
    assert str(embed.CONNECT_TIMEOUT_MS) in text


# -- the tile viewer's bundle -----------------------------------------------------------
def _squeeze(js: str) -> str:
    return "\n".join(line.strip() for line in js.splitlines())


def test_load_points_the_page_at_the_kernels_resources_server(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first panel's load output names BokehJS and the tile viewer's bundle on a server
    of the kernel (no CDN, no copy of either in the notebook), which serves them."""
    import urllib.request

    import bokeh.io.notebook as bokeh_notebook
    from bokeh.io import reset_output

    published: list[dict[str, Any]] = []
    monkeypatch.setattr(bokeh_notebook, "publish_display_data",
                        lambda data, metadata=None, **kw: published.append(data))
    monkeypatch.setattr(notebook, "_loaded", False)
    monkeypatch.setattr(notebook, "_resources_server", None)

    async def scenario() -> list[tuple[str, int, bytes]]:
        notebook.load(notebook_url="127.0.0.1:9999")
        server = notebook._resources_server
        assert server is not None and server.address == "127.0.0.1"
        loader = published[-1]["application/javascript"]
        prefix = re.escape(f"http://127.0.0.1:{server.port}/static/")
        urls = re.findall(f'"({prefix}[^"]+)"', loader)
        loop = asyncio.get_running_loop()
        fetched = []
        for url in urls:
            def get(url: str = url) -> tuple[str, int, bytes]:
                with urllib.request.urlopen(url, timeout=30) as response:
                    return url, response.status, response.read()
            fetched.append(await loop.run_in_executor(None, get))
        return fetched

    loop = asyncio.new_event_loop()
    try:
        fetched = loop.run_until_complete(scenario())
    finally:
        if notebook._resources_server is not None:
            notebook._resources_server.stop()
        loop.close()
        reset_output()
    load = published[-1]
    assert len(load["application/javascript"]) < 50_000  # addresses, not BokehJS
    assert "cdn.bokeh.org" not in load["application/javascript"]
    by_name = {url.split("/")[-1].split("?")[0]: (status, body) for url, status, body in fetched}
    assert by_name["bokeh.min.js"][0] == 200
    assert by_name["webmon.js"] == (200, BUNDLE.read_bytes())
    assert notebook._loaded


def test_the_bundle_is_inlined_only_once_the_model_is_imported() -> None:
    """Why ``load`` imports the panels first: Bokeh bundles only registered extensions."""
    code = (
        "from pathlib import Path\n"
        "from bokeh.embed.bundle import bundle_for_objs_and_resources\n"
        "from bokeh.resources import Resources\n"
        "def inlined():\n"
        "    raw = bundle_for_objs_and_resources(None, Resources(mode='cdn')).js_raw\n"
        "    return any('webmon.tiles_extension.tile_viewer' in js for js in raw)\n"
        "before = inlined()\n"
        "import webmon.jupyter.notebook\n"
        "middle = inlined()\n"
        "import webmon.apps\n"
        "print(before, middle, inlined())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=child_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "True"]


# -- the kernel's hub --------------------------------------------------------------------
def _on_a_loop(scenario: Callable[[], Any]) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(scenario())
    finally:
        loop.close()


def test_one_hub_per_kernel_stopped_once_idle() -> None:
    async def scenario() -> None:
        kernel = KernelHub(interval=0.02, idle_stop_s=0.1)
        hub = kernel.acquire()
        assert kernel.acquire() is hub
        token = hub.connect(lambda: None)  # a panel session
        kernel.released()  # another panel's session went
        # A callback due when the kernel's idle check is (and so run after it).
        checked = asyncio.Event()
        IOLoop.current().call_later(kernel.idle_stop_s, checked.set)
        await asyncio.wait_for(checked.wait(), 30)
        assert kernel.hub is hub  # one still open: keep reading
        assert hub.stats.count > 0
        hub.disconnect(token)
        kernel.released()
        await wait_until_async(lambda: kernel.hub is None, message="the idle hub stopped")
        ticks = hub.stats.count
        new = kernel.acquire()  # the next panel starts a new one
        assert new is not hub
        # The new hub ticks on the same loop and period; the stopped one no more.
        await wait_until_async(lambda: new.stats.count >= 5, message="five ticks")
        assert hub.stats.count == ticks
        kernel.stop()

    _on_a_loop(scenario)


def test_the_kernel_hub_period() -> None:
    async def scenario() -> None:
        kernel = KernelHub()
        assert kernel.interval == 0.1
        kernel.set_interval(0.25)
        kernel.set_interval(None)
        hub = kernel.acquire()
        assert hub.interval == 0.25
        kernel.set_interval(0.25)
        with pytest.raises(ValueError, match="every 0.25 s"):
            kernel.set_interval(0.5)
        kernel.stop()
        kernel.set_interval(0.5)
        assert kernel.acquire().interval == 0.5
        kernel.stop()
        for bad in (0, -1, float("nan")):
            with pytest.raises(ValueError, match="positive"):
                kernel.set_interval(bad)

    _on_a_loop(scenario)


# -- through a Jupyter server's proxy, as under JupyterHub -------------------------------
@pytest.mark.slow
def test_a_panel_through_the_single_user_servers_proxy(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A Jupyter server with jupyter-server-proxy stands in for a JupyterHub single-user
    server at ``/user/alice/``: the embed built from JupyterHub's environment loads through
    ``/user/alice/proxy/{port}/``, and the kernel's server opens a session to pages from the
    hub's address only (the Jupyter server authenticates; the origin is the kernel server's
    check)."""
    import bokeh.io.notebook as bokeh_notebook
    from bokeh.io.state import curstate
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    prefix = "/user/alice/"
    with jupyter_server(tmp_path, base_url=prefix) as jupyter:
        port, public, auth = jupyter.port, f"http://{jupyter.origin}", jupyter.auth
        published: list[tuple[dict[str, Any], dict[str, Any]]] = []
        monkeypatch.setattr(bokeh_notebook, "publish_display_data",
                            lambda data, metadata=None, **kw: published.append((data, metadata)))
        url = resolve_notebook_url(None, {"JUPYTERHUB_SERVICE_PREFIX": prefix,
                                          "JUPYTERHUB_PUBLIC_URL": public + prefix})

        async def session_opens(ws_url: str, origin: str) -> bool:
            from bokeh.util.token import generate_jwt_token, generate_session_id

            request = HTTPRequest(ws_url, headers={**auth, "Origin": origin})
            conn = await websocket_connect(
                request, subprotocols=["bokeh", generate_jwt_token(generate_session_id())])
            # The proxy accepts first, then connects to the kernel's server: the server's
            # first message (its ACK) arrives only if it took the connection.
            try:
                return await asyncio.wait_for(conn.read_message(), 30) is not None
            finally:
                conn.close()

        async def scenario() -> tuple[str, int, str, bool, bool]:
            bokeh_notebook.show_app(lambda doc: doc.add_root(Div(text="through the proxy")),
                                    curstate(), notebook_url=url, address="127.0.0.1")
            data, metadata = published[-1]
            server_id = metadata["application/vnd.bokehjs_exec.v0+json"]["server_id"]
            server = curstate().uuid_to_server[server_id]
            try:
                src = re.search(r"xhr\.open\('GET', \"([^\"]+)\"", data["text/html"]).group(1)
                autoload = await AsyncHTTPClient().fetch(
                    HTTPRequest(src, headers=auth), raise_error=False)
                ws = f"ws://127.0.0.1:{port}{prefix}proxy/{server.port}/ws"
                return (src, server.port, autoload.body.decode() if autoload.code == 200
                        else str(autoload.code),
                        await session_opens(ws, public), await session_opens(ws, "http://evil.example"))
            finally:
                bokeh_notebook.destroy_server(server_id)

        src, kernel_port, autoload, hub_page, other_page = _on_a_loop(scenario)
    assert src.startswith(f"{public}{prefix}proxy/{kernel_port}/autoload.js?")
    assert f"{public}{prefix}proxy/{kernel_port}" in autoload  # where the page's websocket goes
    assert (hub_page, other_page) == (True, False)
