"""What the tests (and the benchmarks that reuse them) share: waiting on a condition,
starting the one test producer script and other child processes, and a Jupyter server.

* :func:`wait_until` (and :func:`wait_until_async` on an event loop) is the only way a test
  waits: poll a condition until it holds, fail with a message after a deadline.  Never a
  fixed sleep before an assertion.
* :func:`producer` runs ``python -m producers KIND NAME ...`` (``tests/producers/``) as a
  separate process until the block ends; the kinds are listed there.
* :func:`jupyter_server` runs a real Jupyter server with private directories.
* :class:`CommandProcess` runs the ``webmon`` command itself.

Child processes get :func:`child_env`: this checkout and ``tests/`` importable, and the
test's private ``WEBMON_RUNTIME_DIR`` (set by the autouse fixture in ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import importlib.util
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
#: CI=true (or 1, yes): tests that would skip for a missing Chromium, Qt or JupyterLab fail.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

T = TypeVar("T")


# -- waiting --------------------------------------------------------------------------------
Message = str | Callable[[], str]


class _Condition:
    """One :func:`wait_until`: ``check()`` returns the predicate's value once it is true,
    None while it is not, and raises once the deadline has passed."""

    def __init__(self, predicate: Callable[[], Any], timeout: float, message: Message,
                 each: Callable[[], Any] | None) -> None:
        self.predicate, self.timeout, self.message, self.each = predicate, timeout, message, each
        self.deadline = time.monotonic() + timeout

    def check(self) -> tuple[bool, Any]:
        if self.each is not None:
            self.each()
        value = self.predicate()
        if value:
            return True, value
        if time.monotonic() > self.deadline:
            text = self.message() if callable(self.message) else self.message
            raise AssertionError(f"{text} not reached within {self.timeout} s")
        return False, None


def wait_until(predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.05,
               message: Message = "condition", each: Callable[[], Any] | None = None) -> T:
    """Call ``each()`` (if given) and then ``predicate()`` every ``interval`` seconds until
    ``predicate`` returns something true, and return that; raise ``AssertionError`` naming
    ``message`` (or what ``message()`` returns then) once ``timeout`` seconds have passed.

    ``each`` is what makes the condition move when nothing else does: ``hub.tick``, a Qt
    application's ``processEvents``, renewing a subscriber's interest.
    """
    condition = _Condition(predicate, timeout, message, each)
    while True:
        done, value = condition.check()
        if done:
            return value
        time.sleep(interval)


async def wait_until_async(predicate: Callable[[], T], timeout: float = 15.0,
                           interval: float = 0.02, message: Message = "condition",
                           each: Callable[[], Any] | None = None) -> T:
    """:func:`wait_until` for a test running on an asyncio loop: sleeps with
    ``asyncio.sleep``, so the loop (a hub's ticks, a command's reply) runs meanwhile."""
    condition = _Condition(predicate, timeout, message, each)
    while True:
        done, value = condition.check()
        if done:
            return value
        await asyncio.sleep(interval)


@contextlib.contextmanager
def hub_in_thread(hub: Any) -> Iterator[Any]:
    """Run ``hub`` (a ``webmon.server.Hub``) on an IOLoop of its own in a daemon thread, as
    a dashboard does, without a Bokeh server; yields that loop, and stops both after."""
    from tornado.ioloop import IOLoop

    holder: dict[str, Any] = {}
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        holder["loop"] = IOLoop.current()
        hub.start(holder["loop"])
        started.set()
        holder["loop"].start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait()
    loop = holder["loop"]
    try:
        yield loop
    finally:
        loop.add_callback(hub.stop)
        loop.add_callback(loop.stop)
        thread.join(10)


# -- child processes ------------------------------------------------------------------------
def child_env(**overrides: str) -> dict[str, str]:
    """This environment (so the test's private runtime directory), with this checkout and
    ``tests/`` importable, and ``overrides`` (say ``WEBMON_RUNTIME_DIR=...``) applied."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), str(TESTS), env.get("PYTHONPATH", "")) if p)
    env.update(overrides)
    return env


def private_runtime_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A runtime directory (mode 0700) for a module-scoped fixture's processes, which
    outlive the per-test one that ``conftest.py`` sets."""
    path = tmp_path_factory.mktemp(name)
    path.chmod(0o700)
    return path


def stop_process(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Close the child's stdin (the test producers then close their Publisher and exit) and
    wait, killing it only if it hangs."""
    if proc.poll() is None:
        with contextlib.suppress(BrokenPipeError, OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def started_process(command: list[str], what: str, timeout: float = 15.0,
                    env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """Run ``command`` until the block ends, once it has printed its ``READY`` line; then
    :func:`stop_process` it.  ``env`` defaults to :func:`child_env`."""
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env or child_env(),
    )
    try:
        line = proc.stdout.readline()
        if line.strip() != "READY":
            proc.kill()
            raise RuntimeError(f"{what} did not start: {line!r} {proc.stderr.read()}")
        yield proc
    finally:
        stop_process(proc, timeout)


def producer(kind: str, name: str, *args: object, python: str = sys.executable,
             env: dict[str, str] | None = None, timeout: float = 30.0
             ) -> contextlib.AbstractContextManager[subprocess.Popen]:
    """Run the test producer ``python -m producers KIND NAME ARGS`` (see
    ``tests/producers/__init__.py`` for the kinds and their options) as a separate process
    publishing as ``name``, from when it prints ``READY`` until the block ends.  Writing a
    line to its stdin says "go" (the ``stress`` kind waits for it); closing stdin stops it.

    ``python``: another interpreter (the transport kinds need only numpy); ``env``: say
    ``child_env(WEBMON_RUNTIME_DIR=...)`` for another runtime directory.
    """
    return started_process([python, "-m", "producers", kind, name, *map(str, args)],
                           f"producer {kind} {name!r}", timeout, env)


def python_interpreters() -> list[str]:
    """Interpreters to run cross-process transport tests with: this one, and those
    ``WEBMON_TEST_PYTHONS`` lists (os.pathsep-separated, each with numpy and psutil installed,
    what ``import webmon`` needs; CI sets it to Python 3.12 and 3.13 beside the default 3.11)."""
    extra = [p for p in os.environ.get("WEBMON_TEST_PYTHONS", "").split(os.pathsep) if p]
    return [sys.executable, *extra]


def run_python(code: str, python: str = sys.executable, timeout: float = 60.0,
               cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (the tests' helpers importable) to its end."""
    return subprocess.run([python, "-c", code], capture_output=True, text=True,
                          env=child_env(), timeout=timeout, cwd=cwd)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b") ", 1)[1][:1] not in (b"Z", b"X")
    except OSError:
        return False


def shm_names() -> set[str]:
    """Segment names present now (Linux exposes POSIX shared memory under /dev/shm)."""
    try:
        return set(os.listdir("/dev/shm"))
    except FileNotFoundError:
        return set()


def segments_of(token: str) -> set[str]:
    """The segments of the channel named from ``token`` (``ProducerInfo.token``) that exist."""
    return {name for name in shm_names() if name.startswith(token)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CommandProcess:
    """``webmon ARGS`` in a subprocess, its output collected by a thread."""

    URL = re.compile(r"webmon dashboard at (http://\S+)")

    def __init__(self, *args: str, env: dict[str, str] | None = None,
                 argv: list[str] | None = None) -> None:
        """``argv`` runs that command line instead (Python code calling ``webmon.cli``)."""
        self.proc = subprocess.Popen(
            argv or [sys.executable, "-m", "webmon.cli", *args], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env={**child_env(), **(env or {})},
            stdin=subprocess.DEVNULL,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def url(self, timeout: float = 60.0) -> str:
        """The dashboard's address, once printed."""
        def found() -> str | None:
            match = self.URL.search(self.output)
            if match is None and self.proc.poll() is not None:
                raise AssertionError(f"webmon exited ({self.proc.returncode}):\n{self.output}")
            return match.group(1) if match else None

        return wait_until(found, timeout, message="dashboard URL printed")

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, and its exit code; fails if it does not stop."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"webmon did not stop on SIGTERM:\n{self.output}") from None
        self._reader.join(timeout=5)
        return code

    def __enter__(self) -> CommandProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:
            self.terminate()


# -- Jupyter --------------------------------------------------------------------------------
def require_jupyterlab() -> None:
    """Skip without JupyterLab (the test extra installs it); under CI, fail instead."""
    if importlib.util.find_spec("jupyterlab") is None:
        message = "JupyterLab is not installed (pip install -e '.[test]' installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


class JupyterServer:
    """``python -m jupyter_server`` on 127.0.0.1, a free port and a random token, serving
    ``directory / "root"``, with private config, runtime and data directories beside it (the
    user's Jupyter setup is never read or written; the installation's own, which enables
    JupyterLab and jupyter-server-proxy, still applies).  Start it with :func:`jupyter_server`.
    """

    START_TIMEOUT_S = 90.0

    def __init__(self, directory: Path, base_url: str = "/",
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.base_url = base_url
        self.root_dir = directory / "root"
        for name in ("config", "runtime", "data", "root"):
            (directory / name).mkdir(mode=0o700, exist_ok=True)
        full_env = {
            **{k: v for k, v in (env or child_env()).items()
               if k not in ("JUPYTER_CONFIG_PATH", "JUPYTER_PATH", "JUPYTER_NO_CONFIG")},
            "JUPYTER_CONFIG_DIR": str(directory / "config"),
            "JUPYTER_RUNTIME_DIR": str(directory / "runtime"),
            "JUPYTER_DATA_DIR": str(directory / "data"),
            "JUPYTER_PLATFORM_DIRS": "1",
        }
        args = [sys.executable, "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--ServerApp.base_url={base_url}", f"--IdentityProvider.token={self.token}",
                "--ServerApp.open_browser=False", f"--ServerApp.root_dir={self.root_dir}"]
        if os.geteuid() == 0:  # containers; Jupyter refuses root without it
            args.append("--ServerApp.allow_root=True")
        self.log_path = directory / "jupyter.log"
        self._log = open(self.log_path, "wb")  # closed by stop()
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env, cwd=directory)

    @property
    def origin(self) -> str:
        """``127.0.0.1:PORT``, as a browser's Origin header names it."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/BASE_URL/``."""
        return f"http://{self.origin}{self.base_url}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"the Jupyter server exited:\n{self.log()}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", f"{self.base_url}api/status", headers=self.auth)
                return conn.getresponse().status == 200
            except OSError:
                return False
            finally:
                conn.close()

        wait_until(ready, timeout=self.START_TIMEOUT_S, interval=0.25,
                   message="the Jupyter server answering")

    def login_cookie(self) -> str:
        """The cookies a browser holds after opening a page with ``?token=``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", f"{self.base_url}api/status?token={self.token}")
            response = conn.getresponse()
            response.read()
            cookies = response.msg.get_all("Set-Cookie") or []
        finally:
            conn.close()
        pairs = [c.split(";", 1)[0] for c in cookies]
        assert any(p.startswith("username-") for p in pairs), cookies
        return "; ".join(pairs)

    def stop(self) -> int:
        """SIGTERM, as a user's Ctrl-C or a service manager does (it shuts its kernels down
        and jupyter-server-proxy passes it on to what it started); returns the exit code.
        Fails if the server ignores it."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    f"the Jupyter server ignored SIGTERM:\n{self.log()}") from None
        finally:
            self._log.close()


@contextlib.contextmanager
def jupyter_server(directory: Path, base_url: str = "/",
                   env: dict[str, str] | None = None) -> Iterator[JupyterServer]:
    """A :class:`JupyterServer` in ``directory``, answering, until the block ends (then
    stopped).  ``env`` (default :func:`child_env`) is what it and its kernels inherit."""
    server = JupyterServer(directory, base_url, env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
