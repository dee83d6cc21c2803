"""napari on a large multiscale image computed lazily, with webmon attached.

    pip install "webmon[napari]" PySide6-Essentials      # or: pip install "napari[all]"
    python examples/napari_large_image.py [--size 65536] [--chunk 256] [--dashboard]

The image (65,536 x 65,536 pixels at level 0 by default, uint8, halved level by level down
to one chunk) is a dask array whose chunks are computed only when napari reads them, so
opening it is instant and zooming in reads new tiles: the dashboard's loader and tiles tabs
show each read.  ``--read-delay-ms`` adds a pause to every chunk computation to stand in
for slow storage (off by default); ``--async`` turns on napari's asynchronous slicing.

Watch it with ``webmon dashboard`` in another terminal, or pass ``--dashboard`` to start one
in the background and open it in the browser (the dock widget, Plugins > webmon monitor,
does the same).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np


def _pixels(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Level-0 pixel values at ``rows`` x ``cols``: rings around a few centres over a soft
    checkerboard, so that every level and every region looks different."""
    size = 65536.0
    value = ((rows // 2048 + cols // 2048) % 2) * 40.0
    for cy, cx, period in ((0.3, 0.3, 900.0), (0.7, 0.6, 300.0), (0.45, 0.8, 90.0)):
        distance = np.hypot(rows - cy * size, cols - cx * size)
        value += 60.0 * (1.0 + np.cos(2 * np.pi * distance / period))
    return np.clip(value, 0, 255).astype(np.uint8)


def _chunk(block_info: dict | None = None, factor: int = 1, delay_s: float = 0.0
           ) -> np.ndarray:
    (y0, y1), (x0, x1) = block_info[None]["array-location"]
    if delay_s:
        time.sleep(delay_s)  # --read-delay-ms: stands in for storage latency
    rows = np.arange(y0, y1, dtype=np.float64)[:, None] * factor
    cols = np.arange(x0, x1, dtype=np.float64)[None, :] * factor
    return _pixels(rows, cols)


def pyramid(size: int, chunk: int, delay_s: float) -> list:
    """The image and its halvings, as dask arrays with ``chunk`` x ``chunk`` chunks."""
    import dask.array as da

    levels = max(1, math.ceil(math.log2(max(size / chunk, 1))) + 1)
    out = []
    for level in range(levels):
        n = -(-size // 2**level)
        out.append(da.map_blocks(_chunk, chunks=da.core.normalize_chunks(chunk, (n, n)),
                                 dtype=np.uint8, factor=2**level, delay_s=delay_s,
                                 name=f"webmon-example-level-{level}"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=65536, help="level-0 side in pixels")
    parser.add_argument("--chunk", type=int, default=256, help="chunk (tile) side")
    parser.add_argument("--read-delay-ms", type=float, default=0.0,
                        help="pause added to every chunk computation")
    parser.add_argument("--async", dest="async_", action="store_true",
                        help="napari's asynchronous slicing")
    parser.add_argument("--name", default="napari", help="producer name in the dashboard")
    parser.add_argument("--dashboard", action="store_true",
                        help="start `webmon dashboard` and open it in the browser")
    args = parser.parse_args()

    import napari
    from napari.settings import get_settings

    from webmon.napari import attach

    if args.async_:
        get_settings().experimental.async_ = True
    viewer = napari.Viewer(title="webmon: large multiscale image")
    viewer.add_image(pyramid(args.size, args.chunk, args.read_delay_ms / 1000.0),
                     multiscale=True, name=f"{args.size} x {args.size} (computed)",
                     contrast_limits=(0, 255))
    attachment = attach(viewer, args.name)
    dashboard = None
    if args.dashboard:
        import webbrowser

        from webmon.napari.dashboard import DashboardProcess

        dashboard = DashboardProcess(on_url=webbrowser.open)
        dashboard.start()
    try:
        napari.run()
    finally:
        attachment.detach()  # closing the window already did; this is for Ctrl-C
        if dashboard is not None:
            dashboard.stop()


if __name__ == "__main__":
    main()
