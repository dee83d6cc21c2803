"""Which Jupyter server runs this kernel, and at which address.

A Jupyter server writes ``jpserver-<pid>.json`` (the classic Notebook ``nbserver-<pid>.json``)
into Jupyter's runtime directory while it runs: its ``pid``, ``port``, ``hostname``,
``base_url``.  The kernels it starts carry its pid in ``JPY_PARENT_PID`` (set by
jupyter_client) and are its children.  So the kernel can tell the port the notebook page
came from, on any port, without being told.

The files belong to the user, but are read as untrusted input: a file that does not parse, or
whose fields have the wrong types, is skipped.  Nothing here imports Jupyter's server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Server files in Jupyter's runtime directory: Jupyter Server, then the classic Notebook.
SERVER_FILE_PATTERNS = ("jpserver-*.json", "nbserver-*.json")
#: Larger files are not a server's record (they hold a few hundred bytes).
MAX_SERVER_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class JupyterServerInfo:
    pid: int
    port: int
    hostname: str
    base_url: str
    secure: bool

    @property
    def origins(self) -> tuple[str, ...]:
        """``host:port`` of this server as a browser on this machine may name it: the
        address it was started on, ``localhost`` and ``127.0.0.1``."""
        hosts = [self.hostname] if self.hostname not in ("", "0.0.0.0", "::", "*") else []
        hosts += ["localhost", "127.0.0.1"]
        return tuple(dict.fromkeys(f"{host}:{self.port}" for host in hosts))


def parse_server_info(text: str) -> JupyterServerInfo | None:
    """A server file's content, or None when it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    pid, port = data.get("pid"), data.get("port")
    hostname, base_url = data.get("hostname", ""), data.get("base_url", "/")
    if (type(pid) is not int or type(port) is not int or not 0 < port < 65536 or pid <= 0
            or not isinstance(hostname, str) or not isinstance(base_url, str)):
        return None
    return JupyterServerInfo(pid, port, hostname, base_url, data.get("secure") is True)


def runtime_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """Jupyter's runtime directory (``jupyter --runtime-dir``), if jupyter_core is here."""
    env = os.environ if environ is None else environ
    if env.get("JUPYTER_RUNTIME_DIR"):
        return Path(env["JUPYTER_RUNTIME_DIR"])
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return None
    return Path(jupyter_runtime_dir())


def running_servers(directory: Path | None) -> list[JupyterServerInfo]:
    """Every readable server record in ``directory``."""
    if directory is None or not directory.is_dir():
        return []
    found = []
    for pattern in SERVER_FILE_PATTERNS:
        for path in sorted(directory.glob(pattern)):
            try:
                if path.stat().st_size > MAX_SERVER_FILE_BYTES:
                    continue
                info = parse_server_info(path.read_text("utf-8"))
            except (OSError, UnicodeDecodeError):
                continue
            if info is not None:
                found.append(info)
    return found


def parent_pids(environ: Mapping[str, str] | None = None) -> list[int]:
    """The pids that may be this kernel's Jupyter server: ``JPY_PARENT_PID``, then the parent
    process."""
    env = os.environ if environ is None else environ
    pids = []
    value = env.get("JPY_PARENT_PID", "")
    if value.isdigit():
        pids.append(int(value))
    pids.append(os.getppid())
    return list(dict.fromkeys(pids))


def server_of_this_kernel(servers: Iterable[JupyterServerInfo],
                          pids: Iterable[int]) -> JupyterServerInfo | None:
    """The server among ``servers`` whose pid is one of ``pids`` (in their order)."""
    by_pid = {server.pid: server for server in servers}
    return next((by_pid[pid] for pid in pids if pid in by_pid), None)


def find_jupyter_server(environ: Mapping[str, str] | None = None) -> JupyterServerInfo | None:
    """The Jupyter server that started this kernel, if it left its record."""
    return server_of_this_kernel(running_servers(runtime_dir(environ)), parent_pids(environ))
