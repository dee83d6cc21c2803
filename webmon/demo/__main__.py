"""``python -m webmon.demo [--name N] [--duration S]``: run the demo producer."""

from __future__ import annotations

import argparse
import logging

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
    args = parser.parse_args(argv)
    if args.duration is not None and args.duration < 0:
        parser.error("--duration must not be negative")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    run(args.name, duration=args.duration)


if __name__ == "__main__":
    main()
