"""The served routes: relative redirects, the individual plots listing, a proxy prefix,
websocket origins, and escaping of producer strings in the page the template renders."""

from __future__ import annotations

import http.client
import json
import urllib.parse
import urllib.request

import pytest
from helpers import producer, wait_until

from webmon.apps import TABS
from webmon.server import serve_in_thread
from webmon.server.handlers import relative_location
from webmon.server.serve import websocket_origins

EVIL = '<img src=x onerror="window.__xss=1">'


def get(url: str) -> tuple[int, dict[str, str], str]:
    """GET without following redirects."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize(("path", "location"), [
    ("/", "status"),
    ("/dash", "dash/status"),
    ("/dash/", "status"),
    ("/a/b", "b/status"),
])
def test_relative_location(path: str, location: str) -> None:
    assert relative_location(path, "status") == location
    assert urllib.parse.urljoin(f"http://h{path}", location).endswith("/status")


def test_relative_location_keeps_the_query() -> None:
    assert relative_location("/", "status", "producer=x") == "status?producer=x"


def test_websocket_origins_default_to_the_served_address() -> None:
    assert websocket_origins("127.0.0.1", 8790, None) == ["127.0.0.1:8790", "localhost:8790"]
    assert websocket_origins("10.0.0.5", 81, None) == ["10.0.0.5:81"]
    assert websocket_origins("0.0.0.0", 81, ["dash.example:443"]) == ["dash.example:443"]


def test_root_redirects_to_status_and_no_app_is_mounted_at_root() -> None:
    with serve_in_thread(TABS) as dashboard:
        assert dashboard.host == "127.0.0.1" and dashboard.port > 0
        status, headers, _ = get(dashboard.url)
        assert status in (301, 302) and headers["Location"] == "status"
        assert dashboard.server is not None
        paths = set(dashboard.server._tornado.app_paths)  # what Bokeh mounted
        assert "/" not in paths
        assert {"/status", "/loader", "/individual-loader-frame-times"} <= paths
        status, _, _ = get(dashboard.url + "static/js/bokeh.min.js")
        assert status == 200
        status, _, body = get(dashboard.url + "status")
        assert status == 200
        assert '<a href="status" class="active" aria-current="page">Status</a>' in body
        assert '<a href="loader">Loader</a>' in body
        assert 'href="/' not in body  # every link relative


def test_individual_plots_json_lists_every_component() -> None:
    with serve_in_thread(TABS) as dashboard:
        status, headers, body = get(dashboard.url + "individual-plots.json")
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        plots = json.loads(body)
        expected = {name for tab in TABS for name in tab.components}
        assert {path.removeprefix("/individual-") for path in plots.values()} == expected
        assert plots["Individual Loader Frame Times"] == "/individual-loader-frame-times"
        for path in plots.values():
            status, _, page = get(dashboard.url + path.lstrip("/"))
            assert status == 200 and "Bokeh" in page


def test_serves_under_a_prefix() -> None:
    with serve_in_thread(TABS, prefix="/proxy/dash/") as dashboard:
        assert dashboard.url.endswith("/proxy/dash/")
        base = dashboard.url.rstrip("/")
        status, headers, _ = get(base)
        assert status in (301, 302) and headers["Location"] == "dash/status"
        status, headers, _ = get(base + "/")
        assert headers["Location"] == "status"
        status, _, body = get(base + "/loader")
        assert status == 200 and '<a href="status">Status</a>' in body
        assert get(base + "/individual-plots.json")[0] == 200
        assert get(base + "/static/js/bokeh.min.js")[0] == 200
        assert get(f"http://127.0.0.1:{dashboard.port}/status")[0] == 404


def test_websocket_from_another_origin_is_refused() -> None:
    with serve_in_thread(TABS) as dashboard:
        conn = http.client.HTTPConnection("127.0.0.1", dashboard.port, timeout=10)
        headers = {"Connection": "Upgrade", "Upgrade": "websocket",
                   "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
        conn.request("GET", "/status/ws", headers={**headers, "Origin": "http://evil.example"})
        assert conn.getresponse().status == 403
        conn.close()


def request(port: int, path: str, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


WS_UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def test_a_rebound_host_name_is_refused_on_loopback() -> None:
    # DNS rebinding: another site's name resolved to 127.0.0.1.  Its page, websocket (whose
    # Origin matches its Host, which Tornado accepts by itself) and routes are all refused.
    with serve_in_thread(TABS) as dashboard:
        port = dashboard.port
        rebound = {"Host": f"evil.example:{port}"}
        assert request(port, "/status", rebound) == 403
        assert request(port, "/", rebound) == 403
        assert request(port, "/individual-plots.json", rebound) == 403
        assert request(port, "/status/ws", {
            **WS_UPGRADE, **rebound, "Origin": f"http://evil.example:{port}"}) == 403
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}",
                     f"app.localhost:{port}"):
            assert request(port, "/status", {"Host": host}) == 200, host


def test_the_host_check_is_off_when_origins_are_named_for_a_proxy() -> None:
    # Behind a reverse proxy that keeps the public Host, the user names its origin.
    with serve_in_thread(TABS, allow_websocket_origin=["dash.example"]) as dashboard:
        assert request(dashboard.port, "/status", {"Host": "dash.example"}) == 200


def test_producer_strings_are_escaped_in_the_page() -> None:
    # The transport allows only plain producer names; the application name is free text.
    with producer("schema", "xss", "--app", EVIL, "--layer-name", EVIL), \
            serve_in_thread(TABS, interval=0.05) as dashboard:
        wait_until(lambda: dashboard.hub.feed("xss"), message="producer followed")
        _, _, body = get(dashboard.url + "loader")
        assert EVIL not in body
        assert "&lt;img src=x onerror=&#34;window.__xss=1&#34;&gt;" in body  # the app name
        # A name that arrives in the address is escaped too (no reflected markup).
        query = urllib.parse.urlencode({"producer": EVIL})
        _, _, body = get(dashboard.url + "status?" + query)
        assert EVIL not in body and "&lt;img src=x" in body


def test_a_page_from_urllib_follows_the_redirect() -> None:
    with serve_in_thread(TABS) as dashboard:
        with urllib.request.urlopen(dashboard.url, timeout=10) as response:
            assert response.geturl().endswith("/status") and response.status == 200
