"""``python -m producers KIND NAME [OPTIONS]``: the kinds are listed in ``__init__.py``."""

from __future__ import annotations

import importlib
import signal
import sys
import threading

from producers import Control

#: kind -> the module of this package that runs it
KINDS = {"serve": "transport", "stress": "transport", "array": "transport",
         "state": "transport", "still": "transport", "slowpoll": "transport",
         "reshape": "transport", "schema": "schema", "tiles": "tiles", "napari": "napari_viewer",
         "spans": "spans", "recording": "recording", "explorer": "explorer",
         "instrumented": "instrumented"}


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] not in KINDS:
        raise SystemExit(f"usage: python -m producers {{{','.join(KINDS)}}} NAME [OPTIONS]")
    kind, name, *args = argv
    module = importlib.import_module(f"producers.{KINDS[kind]}")
    control = Control()
    threading.Thread(target=control.watch_stdin, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: control.stop.set())
    module.run(kind, name, args, control)


if __name__ == "__main__":
    main(sys.argv[1:])
