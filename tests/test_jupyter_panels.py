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
from webmon.jupyter import notebook
from webmon.jupyter.catalog import (
    UnknownPanelError,
    build_panel_document,
    find_panel,
    panel_table,
    panels,
)
from webmon.jupyter.kernel_hub import KernelHub
from webmon.jupyter.notebook_url import (
    DEFAULT_NOTEBOOK_URL,
    JupyterHubAddressError,
    jupyterhub_proxy_url,
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


def test_bokehs_own_jupyterhub_variable_is_left_to_bokeh() -> None:
    env = {**HUB_ENV, "JUPYTER_BOKEH_EXTERNAL_URL": "https://hub.example.org"}
    assert resolve_notebook_url(None, env) == DEFAULT_NOTEBOOK_URL


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


def test_bokeh_serves_a_panel_for_the_jupyterhub_address(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """The callable through Bokeh's own ``show_app``: the embed points at the proxy and the
    kernel's server takes websockets from the Hub's origin only."""
    import bokeh.io.notebook as bokeh_notebook
    from bokeh.io.state import curstate

    published: list[dict[str, Any]] = []
    monkeypatch.setattr(bokeh_notebook, "publish_display_data",
                        lambda data, metadata=None, **kw: published.append(metadata))
    url = resolve_notebook_url(None, {**HUB_ENV, "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/"})

    async def scenario() -> tuple[int, str, int, int]:
        bokeh_notebook.show_app(lambda doc: doc.add_root(Div(text="x")), curstate(),
                                notebook_url=url, address="127.0.0.1")
        server_id = published[-1]["application/vnd.bokehjs_exec.v0+json"]["server_id"]
        server = curstate().uuid_to_server[server_id]
        try:
            ws = f"ws://127.0.0.1:{server.port}/ws"
            return (server.port, server.address, await handshake(ws, "https://hub.example.org"),
                    await handshake(ws, "http://localhost:8888"))
        finally:
            bokeh_notebook.destroy_server(server_id)

    loop = asyncio.new_event_loop()
    try:
        port, address, hub_origin, other_origin = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert address == "127.0.0.1"
    assert (hub_origin, other_origin) == (101, 403)


# -- the tile viewer's bundle -----------------------------------------------------------
def _squeeze(js: str) -> str:
    return "\n".join(line.strip() for line in js.splitlines())


def test_load_inlines_the_tile_viewer_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    import bokeh.io.notebook as bokeh_notebook
    from bokeh.io import reset_output

    published: list[dict[str, Any]] = []
    monkeypatch.setattr(bokeh_notebook, "publish_display_data",
                        lambda data, metadata=None, **kw: published.append(data))
    monkeypatch.setattr(notebook, "_loaded", False)
    try:
        notebook.load()
    finally:
        reset_output()
    scripts = [d for d in published if "application/vnd.bokehjs_load.v0+json" in d]
    assert len(scripts) == 1
    bundle = _squeeze(BUNDLE.read_text("utf-8"))
    assert bundle in _squeeze(scripts[0]["application/javascript"])
    assert bundle in _squeeze(scripts[0]["application/vnd.bokehjs_load.v0+json"])
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
