"""``python -m webmon.demo [--name N] [--duration S]``: run the demo producer."""

from __future__ import annotations

import argparse
import logging
import os
import threading

from webmon.demo.frame_loop import run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m webmon.demo",
        description="Publish telemetry from a procedural multiscale image tour, for the "
        "webmon dashboard to show without napari.",
    )
    parser.add_argument("--name", default="demo", help="producer name (default: demo)")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: run until interrupted)")
    # For `webmon demo`: stop when this inherited pipe's other end closes (its parent ended).
    parser.add_argument("--stop-when-fd-closes", type=int, metavar="FD", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.duration is not None and args.duration < 0:
        parser.error("--duration must not be negative")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    stop = threading.Event()
    if args.stop_when_fd_closes is not None:
        threading.Thread(target=_stop_at_eof, args=(args.stop_when_fd_closes, stop),
                         name="webmon-demo-lifeline", daemon=True).start()
    run(args.name, duration=args.duration, stop=stop)


def _stop_at_eof(fd: int, stop: threading.Event) -> None:
    """Read ``fd`` until end of file (nobody writes to it), then set ``stop``."""
    try:
        while os.read(fd, 1):
            pass
    except OSError:
        pass
    logging.getLogger("webmon.demo").info("the process that started the demo ended; stopping")
    stop.set()


if __name__ == "__main__":
    main()
