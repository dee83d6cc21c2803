"""Forks producers that are killed at random moments, fast: webmon and numpy are imported
once here, and each producer is a fork of this process.

    python fork_server.py      (with tests/ on PYTHONPATH)

Each line ``fork NAME`` on stdin forks a child that publishes as NAME and keeps creating
streams and state keys and reshaping an array (``producers.transport.reshape_forever``)
until it is killed; the child's pid is printed.  Children are reaped automatically.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from producers.transport import reshape_forever

from webmon.shm import Publisher


def main() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    print("READY", flush=True)
    for line in sys.stdin:
        command, _, name = line.strip().partition(" ")
        if command != "fork":
            continue
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            try:
                with Publisher(name, app="fork-server") as pub:
                    reshape_forever(pub, threading.Event())
            finally:
                os._exit(0)
        print(pid, flush=True)


if __name__ == "__main__":
    main()
