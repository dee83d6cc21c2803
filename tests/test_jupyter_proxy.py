"""The dashboard behind a real Jupyter server with jupyter-server-proxy (``webmon.jupyter.proxy``).

A Jupyter server is started on 127.0.0.1 and a free port, with a random token and its own
config, runtime and data directories (the user's Jupyter setup is never read or written).
A producer process publishes; the dashboard that the proxy starts on the first request must
see it, serve every route under ``/webmon/``, refuse anything that did not come through the
Jupyter server's authentication, listen on 127.0.0.1 only, and stop with the Jupyter server.

The browser tests (Chromium through Playwright) load the tabs through the proxy, their data
sources growing over the proxied websocket, and follow the tab bar's links.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import sys
import urllib.parse
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from browser_util import chromium_browser
from helpers import (
    JupyterServer,
    child_env,
    private_runtime_dir,
    process_alive,
    producer,
    require_jupyterlab,
    shm_names,
    wait_until,
)

from webmon.apps import TABS
from webmon.jupyter import proxy
from webmon.server import proxy_gate, serve_in_thread

PRODUCER = "proxied"
#: The dashboard imports Bokeh and pandas before answering; the proxy waits for it.
DASHBOARD_START_TIMEOUT_S = 90.0
WS_HEADERS = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


# -- HTTP and /proc helpers ----------------------------------------------------------------
def request(url: str, headers: dict[str, str] | None = None, method: str = "GET",
            timeout: float = DASHBOARD_START_TIMEOUT_S) -> tuple[int, dict[str, str], bytes]:
    """One request, redirects not followed."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""),
                     headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(b") ", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket ``pid`` listens on, from /proc/net/tcp{,6}."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        with open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            for line in f:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state != "0A" or inode not in inodes:  # 0A: LISTEN
                    continue
                hex_address, hex_port = local.split(":")
                raw = bytes.fromhex(hex_address)
                # /proc prints the address as 32-bit words in host (little-endian) order.
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                found.add((socket.inet_ntop(family, raw), int(hex_port, 16)))
    return found


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine other than loopback (none on an isolated box)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1; a UDP connect sends nothing
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def page_token_payload(html: str) -> dict[str, Any]:
    """The payload of the Bokeh session token a page carries (what its JavaScript sees)."""
    token = re.search(r'"token":"([^"]+)"', html).group(1)
    body = token.split(".")[0]
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    packed = payload.pop("__bk__zlib_", None)
    if packed is not None:
        payload.update(json.loads(zlib.decompress(
            base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)))))
    return payload


# -- a Jupyter server with jupyter-server-proxy --------------------------------------------
class ProxyingJupyter(JupyterServer):
    """The tests' Jupyter server (whose installation enables jupyter-server-proxy), passing
    ``webmon_runtime`` as WEBMON_RUNTIME_DIR on to the dashboard the proxy starts, and
    keeping track of that dashboard."""

    def __init__(self, directory: Path, webmon_runtime: Path) -> None:
        super().__init__(directory, env=child_env(WEBMON_RUNTIME_DIR=str(webmon_runtime)))
        self.dashboard_pids: set[int] = set()
        self.leftovers: list[int] = []

    @property
    def base(self) -> str:
        return f"http://{self.origin}"

    def dashboard_pid(self) -> int:
        """The ``webmon dashboard`` the proxy started (a child of the Jupyter server)."""
        pids = [pid for pid in children(self.proc.pid)
                if cmdline(pid)[1:5] == ["-m", "webmon.cli", "dashboard", "--host"]]
        assert len(pids) == 1, (pids, self.log())
        self.dashboard_pids.add(pids[0])
        return pids[0]

    def stop(self) -> int:
        """Stop the Jupyter server (SIGTERM), which passes the SIGTERM on to the dashboard
        without waiting for it.  Dashboards still running 20 s later are killed and listed in
        :attr:`leftovers`."""
        try:
            return super().stop()
        finally:
            with contextlib.suppress(AssertionError):
                wait_until(lambda: not any(map(process_alive, self.dashboard_pids)),
                           timeout=20, interval=0.1)
            for pid in self.dashboard_pids:
                if process_alive(pid) and "webmon.cli" in cmdline(pid):
                    self.leftovers.append(pid)
                    os.kill(pid, signal.SIGKILL)


def producer_in(runtime: Path, name: str) -> contextlib.AbstractContextManager[Any]:
    """The test producer publishing into ``runtime``."""
    return producer("schema", name, "--rate", "200", "--fps", "30",
                    env=child_env(WEBMON_RUNTIME_DIR=str(runtime)))


def producer_segments(runtime: Path, name: str) -> set[str]:
    from webmon import discover

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEBMON_RUNTIME_DIR", str(runtime))
        infos = [info for info in discover() if info.name == name]
    assert len(infos) == 1
    return set(infos[0].segment_names())


class Setup:
    def __init__(self, jupyter: ProxyingJupyter, runtime: Path) -> None:
        self.jupyter = jupyter
        self.runtime = runtime

    @property
    def url(self) -> str:
        return self.jupyter.base + "/webmon/"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A producer and a Jupyter server; the dashboard starts on the first proxied request.
    On leaving: the Jupyter server is stopped, its dashboard must be gone, and so must every
    segment of the producer."""
    root = tmp_path_factory.mktemp("jupyter")
    runtime = private_runtime_dir(tmp_path_factory, "webmon-proxy-run")
    with producer_in(runtime, PRODUCER):
        segments = producer_segments(runtime, PRODUCER)
        jupyter = ProxyingJupyter(root, runtime)
        try:
            jupyter.wait_ready()
            yield Setup(jupyter, runtime)
        finally:
            jupyter.stop()
        assert jupyter.leftovers == [], "the dashboard outlived the Jupyter server"
    assert not segments & shm_names(), "the producer's segments were left behind"


# -- the entry point -----------------------------------------------------------------------
def test_entry_point_is_registered() -> None:
    points = [p for p in entry_points(group="jupyter_serverproxy_servers") if p.name == "webmon"]
    assert len(points) == 1
    assert points[0].load() is proxy.setup_webmon_proxy


def test_spec_is_a_valid_server_process_running_this_python() -> None:
    from jupyter_server_proxy.config import LauncherEntry, ServerProcess

    spec = proxy.setup_webmon_proxy()
    process = ServerProcess(name="webmon", **spec)  # what jupyter-server-proxy builds
    command = spec["command"]
    assert command[:4] == [sys.executable, "-m", "webmon.cli", "dashboard"]
    assert command[command.index("--port") + 1] == "{port}"
    assert command[command.index("--prefix") + 1] == "{base_url}webmon"
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert process.absolute_url and process.timeout >= 30 and not process.new_browser_tab
    entry = process.launcher_entry
    assert isinstance(entry, LauncherEntry) and entry.enabled and entry.title == "webmon"
    assert entry.path_info == "webmon/"
    icon = ET.parse(entry.icon_path).getroot()
    assert icon.tag == "{http://www.w3.org/2000/svg}svg"


def test_each_jupyter_server_gets_its_own_secret_outside_the_command_line() -> None:
    first, second = proxy.setup_webmon_proxy(), proxy.setup_webmon_proxy()
    secret = first["environment"][proxy.SECRET_ENV]
    assert first["request_headers_override"] == {proxy.SECRET_HEADER: secret}
    assert len(secret) >= proxy_gate.MIN_SECRET_LENGTH
    assert second["environment"][proxy.SECRET_ENV] != secret
    assert not any(secret in arg for arg in first["command"])  # argv is world-readable
    # The names the proxy uses are the ones the dashboard checks.
    assert (proxy.SECRET_ENV, proxy.SECRET_HEADER) == \
        (proxy_gate.SECRET_ENV, proxy_gate.SECRET_HEADER)


# -- the gate, on a dashboard in this process ------------------------------------------------
def test_gate_admits_only_requests_carrying_the_secret() -> None:
    secret = secrets.token_urlsafe(32)
    gate = proxy_gate.ProxySecretAuth(secret)
    with serve_in_thread(TABS, prefix="/p/webmon", auth_provider=gate,
                         allow_websocket_origin=["*"]) as dashboard:
        url = dashboard.url
        ok = {proxy_gate.SECRET_HEADER: secret}
        wrong = {proxy_gate.SECRET_HEADER: secret[:-1] + ("x" if secret[-1] != "x" else "y")}
        for path in ("", "status", "loader", "individual-plots.json",
                     "individual-loader-frame-times"):
            assert request(url + path)[0] == 403, path
            assert request(url + path, wrong)[0] == 403, path
            assert request(url + path, ok)[0] in (200, 302), path
        # Bokeh's own code is public and carries no data.
        assert request(url + "static/js/bokeh.min.js")[0] == 200
        # A websocket handshake without the secret is refused before the upgrade, whatever
        # its origin; with it, the upgrade happens.
        origin = {"Origin": "http://evil.example"}
        assert request(url + "status/ws", {**WS_HEADERS, **origin})[0] == 403
        status, _, _ = request(url + "status/ws", {**WS_HEADERS, **origin, **ok})
        assert status != 403


def test_gate_from_environment() -> None:
    assert proxy_gate.from_environment({}) is None
    assert isinstance(proxy_gate.from_environment({proxy_gate.SECRET_ENV: "s" * 40}),
                      proxy_gate.ProxySecretAuth)
    with pytest.raises(ValueError):
        proxy_gate.from_environment({proxy_gate.SECRET_ENV: "short"})


def test_page_token_carries_no_request_headers_or_cookies() -> None:
    with serve_in_thread(TABS) as dashboard:
        _, _, body = request(dashboard.url + "status?producer=x", {
            "Cookie": "username-127-0-0-1-8888=login-cookie-value",
            "X-Secret": "secret-header-value-7f3a"})
    html = body.decode()
    assert "login-cookie-value" not in html and "secret-header-value-7f3a" not in html
    payload = page_token_payload(html)
    assert payload["headers"] == {} and payload["cookies"] == {}
    assert "producer" in payload["arguments"]  # the page's address still reaches the tab


# -- through a real Jupyter server -----------------------------------------------------------
def test_dashboard_is_served_through_the_proxy(setup: Setup) -> None:
    auth = setup.jupyter.auth
    # The first request starts the dashboard; the redirect stays relative (no rewriting).
    status, headers, _ = request(setup.url, auth)
    assert status == 302 and headers["Location"] == "status", setup.jupyter.log()
    status, _, body = request(setup.url + "status", auth)
    html = body.decode()
    assert status == 200 and PRODUCER in html
    assert '<a href="status" class="active" aria-current="page">Status</a>' in html
    assert '<a href="loader">Loader</a>' in html and '<a href="tiles">Tiles</a>' in html
    assert 'href="/' not in html
    assert 'src="/webmon/static/js/bokeh.min.js' in html  # Bokeh writes the prefix in

    status, headers, body = request(setup.url + "individual-plots.json", auth)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    plots = json.loads(body)
    assert plots["Individual Loader Frame Times"] == "/individual-loader-frame-times"
    assert request(setup.url + "individual-loader-frame-times", auth)[0] == 200

    status, _, body = request(setup.url + "tiles", auth)
    bundle = re.search(r'src="(/webmon/static/extensions/webmon/webmon\.js[^"]*)"',
                       body.decode()).group(1)
    status, headers, body = request(setup.jupyter.base + bundle, auth)
    assert status == 200 and "javascript" in headers["Content-Type"] and b"webmon" in body


def test_jupyterlab_launcher_lists_webmon_with_its_icon(setup: Setup) -> None:
    base, auth = setup.jupyter.base, setup.jupyter.auth
    status, _, body = request(base + "/server-proxy/servers-info", auth)
    assert status == 200
    entries = {e["name"]: e for e in json.loads(body)["server_processes"]}
    entry = entries["webmon"]
    assert entry["new_browser_tab"] is False
    launcher = entry["launcher_entry"]
    assert launcher["enabled"] and launcher["title"] == "webmon"
    assert launcher["path_info"] == "webmon/"
    status, headers, icon = request(base + launcher["icon_url"], auth)
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")
    assert icon == proxy.ICON.read_bytes()
    assert request(base + "/server-proxy/servers-info")[0] in (302, 403)


def test_proxy_requires_the_jupyter_servers_authentication(setup: Setup) -> None:
    request(setup.url, setup.jupyter.auth)  # the dashboard is running
    for path in ("", "status", "individual-plots.json", "static/js/bokeh.min.js"):
        for headers in ({}, {"Authorization": "token " + secrets.token_hex(24)}):
            status, response_headers, body = request(setup.url + path, headers)
            assert status == 302, (path, status)
            assert response_headers["Location"].startswith("/login?next=")
            assert b"Bokeh" not in body and PRODUCER.encode() not in body
    status, _, _ = request(setup.url + "status/ws",
                           {**WS_HEADERS, "Origin": setup.jupyter.base})
    assert status == 403
    # With the login cookie a browser holds, but opened by another site's page: the Jupyter
    # server's origin check refuses it (the dashboard behind it accepts any origin that
    # gets through). From the Jupyter server's own pages, it opens.
    cookie = {"Cookie": setup.jupyter.login_cookie()}
    status, _, _ = request(setup.url + "status/ws", {
        **WS_HEADERS, **cookie, "Origin": "http://evil.example"})
    assert status == 403
    status, _, _ = request(setup.url + "status/ws", {
        **WS_HEADERS, **cookie, "Origin": setup.jupyter.base})
    assert status == 101


def test_dashboard_listens_on_loopback_only_and_refuses_direct_requests(setup: Setup) -> None:
    request(setup.url, setup.jupyter.auth)
    pid = setup.jupyter.dashboard_pid()
    listening = listening_addresses(pid)
    assert len(listening) == 1 and next(iter(listening))[0] == "127.0.0.1", listening
    port = next(iter(listening))[1]
    direct = f"http://127.0.0.1:{port}/webmon/"
    # Reached directly, not through the Jupyter server: refused, however it asks.
    assert request(direct + "status")[0] == 403
    assert request(direct + "status", setup.jupyter.auth)[0] == 403
    # A same-origin handshake (as from a page that DNS rebinding put on this port), which
    # Tornado accepts without looking at the allowed origins: refused by the gate.
    assert request(direct + "status/ws", {**WS_HEADERS, "Origin": f"http://127.0.0.1:{port}"}
                   )[0] == 403
    assert request(direct + "individual-plots.json")[0] == 403
    address = non_loopback_address()
    if address is not None:
        with pytest.raises(OSError), socket.create_connection((address, port), timeout=5):
            pass
    # The secret is in the dashboard's environment, not its command line, and never in a
    # page: Bokeh's session token carries no request headers or cookies.
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
    secret = env[proxy.SECRET_ENV.encode()].decode()
    assert all(secret not in arg for arg in cmdline(pid))
    assert env[b"WEBMON_RUNTIME_DIR"] == str(setup.runtime).encode()
    _, _, body = request(setup.url + "loader", {
        **setup.jupyter.auth, "Cookie": "username-jupyter=login-cookie-value"})
    html = body.decode()
    assert secret not in html and "login-cookie-value" not in html
    payload = page_token_payload(html)
    assert payload["headers"] == {} and payload["cookies"] == {}


# -- in Chromium -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as launched:
        yield launched


class Page:
    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.responses: dict[str, int] = {}
        self.sockets: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("response", lambda r: self.responses.__setitem__(
            urllib.parse.urlsplit(r.url).path, r.status))
        self.page.on("websocket", lambda ws: self.sockets.append(ws.url))

    def wait_document(self, model: str) -> None:
        self.page.wait_for_function(
            "(name) => window.Bokeh !== undefined && Bokeh.documents.length > 0"
            " && Bokeh.documents[0].get_model_by_name(name) != null", arg=model,
            timeout=60_000)

    def length(self, name: str) -> int:
        return self.page.evaluate(
            "(name) => { const m = Bokeh.documents[0].get_model_by_name(name);"
            " return m == null ? -1 : m.get_length(); }", name)

    def grows(self, name: str, timeout: float = 30.0) -> None:
        first = self.length(name)
        wait_until(lambda: self.length(name) > max(first, 0), timeout=timeout, interval=0.2,
                   message=f"{name} growing (from {first})")

    def close(self) -> None:
        self.context.close()


@pytest.mark.browser
def test_tabs_load_and_update_through_the_proxy(setup: Setup, browser: Any) -> None:
    page = Page(browser)
    try:
        # Logging in with the token (Jupyter then sets its login cookie, which the
        # websocket's handshake carries); the root redirects to the first tab.
        page.page.goto(f"{setup.url}?token={setup.jupyter.token}",
                       timeout=DASHBOARD_START_TIMEOUT_S * 1000)
        page.wait_document("status-hub-ticks")
        path = urllib.parse.urlsplit(page.page.url).path
        assert path == "/webmon/status"
        page.grows("status-hub-ticks")  # the websocket through the proxy delivers
        wait_until(lambda: page.length("status-producers") == 1, timeout=30, interval=0.2)
        assert page.page.text_content("#webmon-producer-name") == PRODUCER
        assert any(url.startswith(f"ws://127.0.0.1:{setup.jupyter.port}/webmon/status/ws")
                   for url in page.sockets), page.sockets

        # The tab bar's relative links stay under the proxy's prefix.
        page.page.click("nav.webmon-tabs a:text('Loader')")
        page.page.wait_for_url(re.compile(r".*/webmon/loader(\?.*)?$"))
        page.wait_document("loader-chunk-loads-async")
        page.grows("loader-chunk-loads-async")
        page.grows("loader-frame-times")
        assert page.page.get_attribute("nav.webmon-tabs a.active", "href") == "loader"

        page.page.click("nav.webmon-tabs a:text('Tiles')")
        page.page.wait_for_url(re.compile(r".*/webmon/tiles(\?.*)?$"))
        page.page.wait_for_function(
            "() => window.Bokeh !== undefined && Bokeh.documents.length > 0", timeout=60_000)
        bundle = "/webmon/static/extensions/webmon/webmon.js"
        wait_until(lambda: page.responses.get(bundle), timeout=30, message="bundle loaded")
        assert page.responses[bundle] == 200
        page.page.click("nav.webmon-tabs a:text('Status')")
        page.page.wait_for_url(re.compile(r".*/webmon/status(\?.*)?$"))
        page.wait_document("status-hub-ticks")
        page.grows("status-hub-ticks")
        assert page.errors == []
    finally:
        page.close()


@pytest.mark.browser
def test_jupyterlab_launcher_item_opens_the_dashboard(setup: Setup, browser: Any) -> None:
    require_jupyterlab()
    page = Page(browser)
    try:
        page.page.goto(f"{setup.jupyter.base}/lab?token={setup.jupyter.token}",
                       timeout=120_000)
        card = page.page.locator(".jp-LauncherCard", has_text="webmon")
        card.wait_for(timeout=120_000)
        icon = card.locator("img, svg").first
        assert icon.count() == 1
        card.click()
        # A JupyterLab tab with the dashboard in an iframe, through the proxy.
        frame = page.page.frame_locator("iframe[src*='/webmon/']")
        frame.locator("nav.webmon-tabs a.active").wait_for(
            timeout=DASHBOARD_START_TIMEOUT_S * 1000)
        assert frame.locator("nav.webmon-tabs a.active").inner_text() == "Status"
        assert frame.locator("#webmon-producer-name").inner_text() == PRODUCER
        dashboard = next(f for f in page.page.frames if "/webmon/" in f.url)
        dashboard.wait_for_function(
            "() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && "
            "Bokeh.documents[0].get_model_by_name('status-hub-ticks') != null",
            timeout=60_000)
        ticks = ("() => Bokeh.documents[0].get_model_by_name('status-hub-ticks')"
                 ".get_length()")
        first = dashboard.evaluate(ticks)
        wait_until(lambda: dashboard.evaluate(ticks) > first, timeout=30, interval=0.2,
                   message="the dashboard's sources growing in its JupyterLab tab")
    finally:
        page.close()


@pytest.mark.browser
def test_a_browser_without_the_token_gets_the_login_page(setup: Setup, browser: Any) -> None:
    page = Page(browser)
    try:
        page.page.goto(setup.url + "status", timeout=60_000)
        assert urllib.parse.urlsplit(page.page.url).path == "/login"
        assert page.page.evaluate("() => window.Bokeh === undefined")
    finally:
        page.close()


# -- shutting down ---------------------------------------------------------------------------
def test_stopping_the_jupyter_server_stops_its_dashboard(
        tmp_path: Path, runtime_dir: Path) -> None:
    with producer_in(runtime_dir, "stopper"):
        segments = producer_segments(runtime_dir, "stopper")
        jupyter = ProxyingJupyter(tmp_path, runtime_dir)
        try:
            jupyter.wait_ready()
            status, _, body = request(jupyter.base + "/webmon/status", jupyter.auth)
            assert status == 200 and b"stopper" in body
            pid = jupyter.dashboard_pid()
        finally:
            code = jupyter.stop()
        assert code == 0, jupyter.log()
        assert jupyter.leftovers == [] and not process_alive(pid)
        assert "webmon dashboard stopped" in jupyter.log()  # SIGTERM, a clean exit
    assert not segments & shm_names()
    assert not [pid for pid in children(os.getpid()) if "webmon.cli" in cmdline(pid)]
