"""A real ``jupyter server`` for the Jupyter tests: 127.0.0.1, a free port, its own token and
private config, runtime and data directories."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from procs import child_env


@dataclass(frozen=True)
class JupyterServer:
    origin: str  # "127.0.0.1:PORT", as a browser's Origin names it
    base_url: str  # "/" or "/user/alice/"
    token: str

    @property
    def port(self) -> int:
        return int(self.origin.rsplit(":", 1)[1])

    @property
    def url(self) -> str:
        return f"http://{self.origin}{self.base_url}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def jupyter_server(tmp_path: Path, base_url: str = "/") -> Iterator[JupyterServer]:
    """Run a Jupyter server serving ``tmp_path / "root"`` until the block ends (then
    terminate it, which shuts its kernels down)."""
    port, token = _free_port(), secrets.token_hex(16)
    for name in ("config", "runtime", "data", "root"):
        (tmp_path / name).mkdir(exist_ok=True)
    # Private Jupyter directories; the installation's own (which enable JupyterLab and the
    # python3 kernel of this environment) still apply.
    env = {**{k: v for k, v in child_env().items()
              if k not in ("JUPYTER_CONFIG_PATH", "JUPYTER_PATH", "JUPYTER_NO_CONFIG")},
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "JUPYTER_PLATFORM_DIRS": "1"}
    args = [sys.executable, "-m", "jupyter_server", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--ServerApp.base_url={base_url}", f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False", f"--ServerApp.root_dir={tmp_path / 'root'}"]
    if os.geteuid() == 0:  # containers; Jupyter refuses root without it
        args.append("--ServerApp.allow_root=True")
    server = JupyterServer(f"127.0.0.1:{port}", base_url, token)
    log_path = tmp_path / "jupyter.log"
    with open(log_path, "wb") as log:
        jupyter = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert jupyter.poll() is None, log_path.read_text()
            try:
                status = urllib.request.urlopen(urllib.request.Request(
                    f"{server.url}api/status", headers=server.auth), timeout=5).status
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the Jupyter server did not answer"
            time.sleep(0.25)
        yield server
    finally:
        jupyter.terminate()
        jupyter.wait(60)
