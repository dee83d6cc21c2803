"""The ``webmon`` command: parsing, ``ls``, and ``dashboard`` and ``demo`` as real processes
stopped by SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from helpers import (
    CommandProcess,
    child_env,
    process_alive,
    producer,
    started_process,
    wait_until,
)

from webmon import discover
from webmon.apps import TABS
from webmon.cli import build_dashboard, format_producers, make_parser, parse_interval, parse_port
from webmon.server import serve_in_thread
from webmon.server.serve import DEFAULT_PORT, Dashboard, PortUnavailable


@pytest.mark.parametrize(("text", "seconds"), [
    ("100", 0.1), ("100ms", 0.1), ("250 ms", 0.25), ("0.5s", 0.5), ("2s", 2.0), (".05s", 0.05),
    ("33.3", 0.0333),
])
def test_parse_interval(text: str, seconds: float) -> None:
    assert parse_interval(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "fast", "10 minutes", "-5", "1ms", "0"])
def test_parse_interval_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_interval(text)


def test_dashboard_defaults_bind_localhost() -> None:
    args = make_parser().parse_args(["dashboard"])
    assert args.host == "127.0.0.1" and args.interval == 0.1 and args.producer is None
    args = make_parser().parse_args(["demo", "--port", "0", "--interval", "50ms"])
    assert args.port == 0 and args.interval == 0.05 and args.name == "demo"


def test_only_the_default_port_gives_way_to_the_next_free_one() -> None:
    dashboard = build_dashboard(make_parser().parse_args(["dashboard"]), None)
    assert dashboard.requested_port == DEFAULT_PORT and dashboard.next_free_port
    for port in ("8790", "0", "5000"):
        dashboard = build_dashboard(make_parser().parse_args(["demo", "--port", port]), "demo")
        assert dashboard.requested_port == int(port) and not dashboard.next_free_port


@pytest.mark.parametrize("text", ["0", "1", "8790", "65535", " 80 "])
def test_parse_port(text: str) -> None:
    assert parse_port(text) == int(text)


@pytest.mark.parametrize("text", ["99999", "65536", "-1", "http", "", "80.5", "1e3"])
def test_parse_port_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="is not a port"):
        parse_port(text)


@pytest.mark.parametrize("port", [-1, 65536, 99999, "8790", 1.5, True, None])
def test_dashboard_refuses_what_is_not_a_port(port: object) -> None:
    with pytest.raises(ValueError, match="is not a port"):
        Dashboard(TABS, port=port)


def run_webmon(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webmon.cli", *args], capture_output=True,
                          text=True, env=child_env(), timeout=timeout)


def test_ls_lists_producers_with_rates() -> None:
    assert run_webmon("ls").stdout.strip() == "no live producers"
    with producer("schema", "listed", "--rate", "1000", "--app", "lister 1.0\x1b[31m"):
        result = run_webmon("ls")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith("listed  pid ")
        assert "\x1b" not in result.stdout and "lister 1.0\\x1b[31m" in lines[0]
        assert any(line.strip().startswith("commands: pause") for line in lines)

        def listed_rate() -> float:
            loads = next(line for line in run_webmon("ls").stdout.splitlines()
                         if "chunk_loads" in line)
            return float(loads.split()[3].replace(",", "").removesuffix("/s"))

        # The producer appends 1,000 records a second by the clock, catching up if it was
        # held up; ls measures the rate over its own window, so a loaded machine may need
        # another look.
        wait_until(lambda: 700 < listed_rate() < 1300, timeout=30, interval=0.2,
                   message="ls showing about 1,000 records/s")

        def listed_json() -> dict | None:
            rows = json.loads(run_webmon("ls", "--json").stdout)
            assert rows[0]["name"] == "listed"
            fresh = rows[0]["heartbeat_age_s"] < 1.5
            return rows[0] if fresh and 700 < rows[0]["streams"]["chunk_loads"]["rate"] < 1300 \
                else None

        wait_until(listed_json, timeout=30, interval=0.2,
                   message="ls --json showing the rate and a fresh heartbeat")


def test_ls_removes_what_a_killed_producer_left(runtime_dir) -> None:
    with producer("schema", "doomed") as proc:
        info = wait_until(lambda: next((i for i in discover() if i.name == "doomed"), None))
        segments = info.segment_names()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # Its descriptor is left (its segments may be swept already by any webmon process
        # of the user, such as a concurrent test run: only this test reads its directory).
        assert os.path.exists(info.path)
        assert run_webmon("ls").stdout.strip() == "no live producers"
        assert not any(os.path.exists(f"/dev/shm/{name}") for name in segments)
        assert not [p for p in os.listdir(runtime_dir) if p.endswith(".json")]


def test_format_without_producers() -> None:
    assert format_producers([], 0.5) == "no live producers"


def test_dashboard_serves_until_sigterm() -> None:
    with producer("schema", "watched", "--rate", "100"), \
            CommandProcess("dashboard", "--port", "0", "--interval", "50ms") as webmon:
        url = webmon.url()
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0/")
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.geturl().endswith("/status")
            assert b"watched" in response.read()
        assert webmon.terminate() == 0
        assert "webmon dashboard stopped" in webmon.output


def test_dashboard_with_a_prefix() -> None:
    with CommandProcess("dashboard", "--port", "0", "--prefix", "/proxied/") as webmon:
        url = webmon.url()
        assert url.endswith("/proxied/")
        with urllib.request.urlopen(url + "loader", timeout=10) as response:
            assert response.status == 200


def test_demo_runs_producer_and_dashboard_and_cleans_up() -> None:
    with CommandProcess("demo", "--port", "0", "--name", "clidemo") as webmon:
        url = webmon.url(timeout=90)
        infos = [i for i in discover() if i.name == "clidemo"]
        assert len(infos) == 1
        info = infos[0]
        assert info.pid != webmon.proc.pid  # a process of its own...
        with open(f"/proc/{info.pid}/cmdline", "rb") as f:  # ...started fresh, not forked
            assert b"webmon.demo" in f.read()
        segments = info.segment_names()
        with urllib.request.urlopen(url + "loader", timeout=10) as response:
            assert b"clidemo" in response.read()
        assert webmon.terminate() == 0
    wait_until(lambda: not process_alive(info.pid), message="demo producer exited")
    assert not any(os.path.exists(f"/dev/shm/{name}") for name in segments)
    assert [i for i in discover() if i.name == "clidemo"] == []


def test_demo_producer_only() -> None:
    with CommandProcess("demo", "--producer-only", "--name", "solo") as webmon:
        info = wait_until(lambda: next((i for i in discover() if i.name == "solo"), None),
                          timeout=60, message="producer listed")
        assert info.pid == webmon.proc.pid
        assert "webmon dashboard at" not in webmon.output
        segments = info.segment_names()
        assert webmon.terminate() == 0
    assert not any(os.path.exists(f"/dev/shm/{name}") for name in segments)


TWO_IN_ONE_PROCESS = """
import sys, threading, time
import numpy as np
from webmon import Publisher
dt = np.dtype([("t", "<f8")])
with Publisher("idle") as idle, Publisher("busy") as busy:  # listed in this order
    loads = busy.stream("chunk_loads", dt)
    idle.stream("chunk_loads", dt).append((0.0,))
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("READY", flush=True)
    while not stop.is_set():
        loads.extend(np.zeros(20, dt))
        time.sleep(0.01)
"""


def test_ls_measures_each_producer_of_one_process_apart() -> None:
    """Two producers in one process share a pid: rates are kept per producer."""
    with started_process([sys.executable, "-c", TWO_IN_ONE_PROCESS], "two producers"):
        rows = {row["name"]: row for row in json.loads(run_webmon("ls", "--json").stdout)}
        assert rows["busy"]["pid"] == rows["idle"]["pid"]
        assert rows["idle"]["streams"]["chunk_loads"]["rate"] == 0.0
        assert 200 < rows["busy"]["streams"]["chunk_loads"]["rate"] < 4000  # 2,000/s
        assert rows["busy"]["selector"] == f"busy@{rows['busy']['pid']}"


def test_ls_says_when_names_are_shared() -> None:
    with producer("schema", "dup", "--rate", "10") as one, \
            producer("schema", "dup", "--rate", "10") as two:
        out = run_webmon("ls").stdout
        for proc in (one, two):
            line = next(x for x in out.splitlines() if f"pid {proc.pid} " in x)
            assert "2 live producers are named 'dup'" in line


def test_dashboard_refuses_a_malformed_producer_selector() -> None:
    result = run_webmon("dashboard", "--producer", "@12")
    assert result.returncode == 2 and "NAME or NAME@PID" in result.stderr


def _header_detail(html: str) -> str:
    match = re.search(r'id="webmon-producer-detail"[^>]*>([^<]*)<', html)
    assert match, html[:2000]
    return match.group(1)


def test_demo_follows_its_own_child_among_namesakes() -> None:
    with CommandProcess("demo", "--port", "0", "--name", "twin") as webmon:
        url = webmon.url(timeout=90)
        child = wait_until(lambda: next((i for i in discover() if i.name == "twin"), None))
        with producer("schema", "twin", "--rate", "10") as newer:  # newer, same name
            wait_until(lambda: len([i for i in discover() if i.name == "twin"]) == 2)
            # The hub lists producers every second: over three, the page never switches.
            until = time.monotonic() + 3.0
            while time.monotonic() < until:
                with urllib.request.urlopen(url + "status", timeout=10) as response:
                    detail = _header_detail(response.read().decode())
                assert detail.startswith(f"pid {child.pid} ") and str(newer.pid) not in detail
                time.sleep(0.3)
        assert webmon.terminate() == 0


def test_demo_killed_takes_its_producer_down() -> None:
    with CommandProcess("demo", "--port", "0", "--name", "orphan") as webmon:
        webmon.url(timeout=90)
        child = wait_until(lambda: next((i for i in discover() if i.name == "orphan"), None))
        webmon.proc.send_signal(signal.SIGKILL)
        webmon.proc.wait()
        # It ends (how soon, against the 2 s, is benchmarks/bench_orphan.py's).
        wait_until(lambda: not process_alive(child.pid),
                   timeout=30.0, interval=0.02, message="the demo producer ended")
    assert [i for i in discover() if i.name == "orphan"] == []


# -- ports and usage ------------------------------------------------------------------------
@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program listens on (127.0.0.1) for the duration of the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize("command", ["dashboard", "demo"])
def test_a_port_given_and_taken_is_one_line_and_starts_nothing(
        command: str, taken_port: int, runtime_dir) -> None:
    result = run_webmon(command, "--port", str(taken_port), "--name" if command == "demo"
                        else "--interval", "taken" if command == "demo" else "100ms")
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert line.startswith(f"webmon {command}: port {taken_port} on 127.0.0.1 is already in use")
    assert "--port N" in line and "--port 0" in line
    assert "webmon dashboard at" not in result.stdout
    # Nothing started: no producer ever wrote a descriptor, no demo producer logged.
    assert not list(runtime_dir.iterdir()) and "demo producer" not in result.stdout


def test_the_default_port_taken_moves_to_the_next_free_one(taken_port: int) -> None:
    # `webmon dashboard` with no --port, its default port being one that is taken.
    code = ("import sys, webmon.cli as cli; cli.DEFAULT_PORT = int(sys.argv[1]); "
            "sys.exit(cli.main(['dashboard']))")
    with CommandProcess(env={}, argv=[sys.executable, "-c", code, str(taken_port)]) as webmon:
        url = webmon.url()
        port = int(url.rsplit(":", 1)[1].strip("/"))
        assert port != taken_port
        assert (f"webmon: port {taken_port} is in use; serving on port {port} instead"
                in webmon.output)
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
        assert webmon.terminate() == 0


def test_dashboard_api_next_free_port(taken_port: int) -> None:
    with pytest.raises(PortUnavailable, match=f"port {taken_port} on 127.0.0.1 is already"):
        with serve_in_thread(TABS, port=taken_port):
            pass
    with serve_in_thread(TABS, port=taken_port, next_free_port=True) as dashboard:
        assert dashboard.port != taken_port and dashboard.moved_from == taken_port


@pytest.mark.parametrize(("args", "message"), [
    (["--port", "99999"], "argument --port: '99999' is not a port: give a number from 0 "
                          "to 65535"),
    (["--port", "-5"], "argument --port: '-5' is not a port"),
    (["--host", "nosuchhost.invalid", "--port", "0"], "nosuchhost.invalid is not a host "
                                                      "name this machine can resolve"),
])
def test_bad_addresses_are_refused_with_a_message(args: list[str], message: str) -> None:
    result = run_webmon("dashboard", *args)
    assert result.returncode in (1, 2) and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "AssertionError" not in result.stderr


@pytest.mark.parametrize("command", ["demo", "dashboard", "ls"])
def test_an_unknown_option_shows_that_commands_usage(command: str) -> None:
    result = run_webmon(command, "--bogus")
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: webmon {command} ")
    assert f"webmon {command}: error: unrecognized arguments: --bogus" in result.stderr
    # Before the command, the option is the top level's.
    result = run_webmon("--bogus", command)
    assert result.returncode == 2 and result.stderr.startswith("usage: webmon [-h]")


def test_replay_with_its_port_taken_starts_no_replay(taken_port: int, runtime_dir,
                                                    tmp_path) -> None:
    out = tmp_path / "short"
    with producer("schema", "recorded", "--rate", "100"):
        result = run_webmon("record", "-o", str(out), "--duration", "1", "--quiet")
        assert result.returncode == 0, result.stderr
    result = run_webmon("replay", str(out), "--port", str(taken_port))
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert line.startswith(f"webmon replay: port {taken_port} on 127.0.0.1 is already in use")
    # The replay producer never started: no producer left a descriptor behind.
    assert not [p for p in runtime_dir.iterdir() if p.suffix == ".json"]
    assert "webmon dashboard at" not in result.stdout


def test_version_prints_webmon_bokeh_and_python_versions() -> None:
    from importlib.metadata import version

    from webmon.version import __version__

    done = subprocess.run([sys.executable, "-m", "webmon.cli", "--version"],
                          capture_output=True, text=True, env=child_env(), timeout=60)
    assert done.returncode == 0, done.stderr
    python = ".".join(map(str, sys.version_info[:3]))
    assert done.stdout.strip() == (
        f"webmon {__version__} (bokeh {version('bokeh')}, Python {python})")
